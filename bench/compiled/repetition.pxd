# Cython declarations for the compiled-build experiment (bench/compiled/measure.sh), not part of the package:
# C types for the locals and arguments of repetition's hot functions, in pure-Python mode (the .py stays the
# source). Strings are `unicode` (find_loop and the gallops are called with str only, token ids included).
cimport cython

@cython.locals(good=Py_ssize_t, m=Py_ssize_t, bad=Py_ssize_t, mid=Py_ssize_t)
cpdef Py_ssize_t _match_forward(unicode a, Py_ssize_t i, unicode b, Py_ssize_t j, Py_ssize_t limit,
                                Py_ssize_t step=*) except -1

@cython.locals(good=Py_ssize_t, t=Py_ssize_t, bad=Py_ssize_t, mid=Py_ssize_t)
cpdef Py_ssize_t _match_backward(unicode a, Py_ssize_t i, unicode b, Py_ssize_t j, Py_ssize_t limit,
                                 Py_ssize_t step=*) except -1

@cython.locals(n=Py_ssize_t, m=Py_ssize_t, t=Py_ssize_t)
cpdef tuple _run(unicode s, Py_ssize_t i, Py_ssize_t p)

@cython.locals(e=Py_ssize_t, f=Py_ssize_t, back=Py_ssize_t, a=Py_ssize_t, b=Py_ssize_t)
cpdef _long_run(unicode s, Py_ssize_t i, Py_ssize_t p, double min_repeats, Py_ssize_t min_len)

@cython.locals(n=Py_ssize_t, w=Py_ssize_t, end=Py_ssize_t, j=Py_ssize_t, p=Py_ssize_t, tail=unicode)
cpdef _tail_run(unicode s, double min_repeats, Py_ssize_t min_len)

@cython.locals(n=Py_ssize_t, w=Py_ssize_t, step=Py_ssize_t, probes=Py_ssize_t, recurring=Py_ssize_t,
               tail_start=Py_ssize_t, skip_until=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t,
               x=Py_ssize_t, y=Py_ssize_t, counted=bint, is_text=bint, window=unicode)
cpdef find_loop(unicode s, double min_repeats=*, Py_ssize_t min_len=*, Py_ssize_t max_period=*, Py_ssize_t stride=*,
                Py_ssize_t probe=*, skip=*, tail_repeats=*)

@cython.locals(la=Py_ssize_t, lb=Py_ssize_t, longest=Py_ssize_t, limit=Py_ssize_t, i=Py_ssize_t, need=double)
cpdef bint _near(unicode a, unicode b, double similarity, Py_ssize_t min_common) except -1

@cython.locals(key=unicode)
cpdef unicode _key(unicode piece)

@cython.locals(count=Py_ssize_t, ch=Py_UCS4)
cpdef bint _has_letters(unicode key, Py_ssize_t k=*) except -1

@cython.locals(visible=Py_ssize_t)
cpdef bint _symbolic(unicode line) except -1

@cython.locals(pos=Py_ssize_t, start=Py_ssize_t, fence_at=Py_ssize_t, fence_count=Py_ssize_t, lead=Py_ssize_t,
               offset=Py_ssize_t, min_code=Py_ssize_t, raw=unicode, line=unicode, key=unicode, part=unicode,
               body=unicode, plain=unicode, first=Py_UCS4, short=bint)
cpdef list _units(unicode text, list fences, Py_ssize_t min_chars, frozenset echoed=*)
