"""Rebuild the real-output corpus (`tests/data/corpus/*.jsonl.gz`) from pinned public commits.

Every record is one output of a public model, copied unmodified from a data file that a public
repository publishes at a pinned commit (see SOURCES.md). This script only reads those data files
(`git show COMMIT:PATH` in a local bare mirror) and writes the compressed JSONL shards; it runs no
fetched code.

    python tests/data/corpus/build_corpus.py --mirrors /work/.mirror            # rewrite the shards
    python tests/data/corpus/build_corpus.py --mirrors /work/.mirror --check    # compare with the committed ones
    python tests/data/corpus/build_corpus.py --fresh [--check]                  # the fresh slices: ../corpus_fresh*

A mirror of `owner/name` is the bare git directory `<mirrors>/<owner>+<name>/repo` (what the
project's `fetch` tool creates; a plain `git clone --bare` placed there works as well). The result
is deterministic: fixed seed, fixed source order, gzip with mtime 0.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonlines

SEED = 20240610
MAX_SHARD_BYTES = 1_400_000  # every shard stays under 1.5 MB
OUT_DEFAULT = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True)
class Source:
    key: str  # the dataset name written into each record
    repo: str  # owner/name on GitHub
    commit: str  # the pinned commit every path is read at
    license: str


ALPACA_EVAL = Source("alpaca_eval", "tatsu-lab/alpaca_eval", "cd543a149df89434d8a54582c0151c0b945c3d20", "Apache-2.0")
ARENA_HARD = Source("arena_hard", "lmarena/arena-hard-auto", "196f6b826783b3da7310e361a805fa36f0be83f3", "Apache-2.0")
ARENA_BENCH_V1 = Source(
    "arena_bench_v1", "lmarena/arena-hard-auto", "4a705dd6963f777aba2ae79259e3013934e6e012", "Apache-2.0"
)
JUST_EVAL = Source("just_eval", "Re-Align/just-eval", "3e1a1265e210be1d6ad71624c91da3efc36493ca", "MIT")
LLMZOO = Source(
    "llmzoo",
    "FreedomIntelligence/LLMZoo",
    "cf70d9cd7a34808681ebe58e652f697420d7b055",
    "CC-BY-NC-4.0",  # DATA_LICENSE of the repository (its code is Apache-2.0)
)
BAYLING = Source("bayling80", "ictnlp/BayLing", "8f6ecb91db5375184610e4c3e71e0fd3de8f9685", "GPL-3.0-only")
BAYLING_EXAM = Source("bayling_exam", "ictnlp/BayLing", "8f6ecb91db5375184610e4c3e71e0fd3de8f9685", "GPL-3.0-only")
LLMEVAL2 = Source(
    "llmeval2",
    "llmeval/llmeval-2",
    "5add6d8d3834f212bb2e6d76f29d65eb1cf1f8d8",
    "NOASSERTION (no license file; published for research, see SOURCES.md)",
)
PYDANTIC_AI = Source("pydantic_ai_cassettes", "pydantic/pydantic-ai", "4fda38988f2939fa6ea9cdefcf120693e10ef491", "MIT")

# Sources of outputs where a model talks about itself or about other assistants (SOURCES.md, "identity_*"). The
# first two re-read the repositories above, keeping only the prompts listed below.
IDENTITY_ALPACA_EVAL = Source("identity_alpaca_eval", ALPACA_EVAL.repo, ALPACA_EVAL.commit, ALPACA_EVAL.license)
IDENTITY_JUST_EVAL = Source("identity_just_eval", JUST_EVAL.repo, JUST_EVAL.commit, JUST_EVAL.license)
IDENTITY_OASST = Source(
    "identity_oasst", "Open-Assistant/oasst-model-eval", "ce935dee6922ec75d5a4006dd1c3595b39a01fdf", "Apache-2.0"
)
IDENTITY_HALLUQA = Source(
    "identity_halluqa", "OpenMOSS/HalluQA", "7e5c67398d7fee013c37ec1d6afafa76f9836180", "Apache-2.0"
)
HALLUQA = Source("halluqa", IDENTITY_HALLUQA.repo, IDENTITY_HALLUQA.commit, IDENTITY_HALLUQA.license)


# Files of 4 MiB and more that the stored snapshots (the project's `fetch` tool) do not hold; skipped everywhere so
# that a full clone rebuilds the same corpus.
SKIPPED: dict[str, frozenset[str]] = {
    "tatsu-lab/alpaca_eval": frozenset({"results/Snorkel-Mistral-PairRM-DPO-best-of-16/model_outputs.json"}),
    "lmarena/arena-hard-auto": frozenset({
        "data/arena-hard-v2.0/model_answer/deepseek-r1.jsonl",
        "data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl",
        "data/arena-hard-v2.0/model_answer/qwq-32b.jsonl",
    }),
    "pydantic/pydantic-ai": frozenset({
        "tests/models/cassettes/test_google/test_google_image_generation.yaml",
        "tests/models/cassettes/test_google/test_google_image_generation_stream.yaml",
        "tests/models/cassettes/test_google/test_google_image_generation_with_native_output.yaml",
        "tests/models/cassettes/test_openai_responses/test_openai_responses_image_and_text_output.yaml",
        "tests/models/cassettes/test_openai_responses/test_openai_responses_image_generation.yaml",
        "tests/models/cassettes/test_openai_responses/test_openai_responses_image_generation_stream.yaml",
        "tests/models/cassettes/test_openai_responses/test_openai_responses_multiple_images.yaml",
    }),
    "Open-Assistant/oasst-model-eval": frozenset({
        "sampling_reports/oasst-pretrained/2023-07-22_OpenAssistant_llama2_13b_orca_8k_1000_sampling_llama2_prompt.json",
        "sampling_reports/qwen/2025-08-10_qwen3-32b_sample.jsonl",
    }),
}


@dataclass
class Candidate:
    source: Source
    model: str
    native_id: str  # unique within (dataset, model)
    messages: list[dict[str, str]]
    output: str
    path: str
    line: int | None = None
    finish_reason: str | None = None
    lang: str | None = None  # when the source states the prompt's language
    generator: str | None = None
    group: str | None = None  # sampled within (dataset, model, lang, group) when set: the identity sources, per prompt


class Mirror:
    """Read files of one repository at one commit from its local bare mirror."""

    def __init__(self, root: Path, repo: str) -> None:
        self.repo = repo
        self.git_dir = root / repo.replace("/", "+") / "repo"
        if not self.git_dir.is_dir():
            sys.exit(f"build_corpus: no mirror of {repo} at {self.git_dir}: fetch it first (or pass --mirrors)")

    def ls(self, commit: str, prefix: str) -> list[str]:
        """The files under `prefix`, less those the stored snapshots lack (SKIPPED), so that a full clone gives
        the same corpus."""
        out = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "--name-only", "-z", commit, "--", prefix],
            check=True, capture_output=True,
        ).stdout.decode("utf-8")
        return sorted(p for p in out.split("\0") if p and p not in SKIPPED.get(self.repo, ()))

    def read(self, commit: str, path: str) -> str:
        done = subprocess.run(["git", "--git-dir", str(self.git_dir), "show", f"{commit}:{path}"], capture_output=True)
        if done.returncode != 0:
            sys.exit(f"build_corpus: {self.repo}@{commit[:12]}:{path} cannot be read from {self.git_dir}: "
                     f"{done.stderr.decode(errors='replace').strip()} (a partial mirror? add the path to SKIPPED)")
        return done.stdout.decode("utf-8")


def permalink(source: Source, path: str, line: int | None = None) -> str:
    url = f"https://github.com/{source.repo}/blob/{source.commit}/{quote(path)}"
    return f"{url}#L{line}" if line is not None else url


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def jsonl(text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, json.loads(line)


# --- tatsu-lab/alpaca_eval: results/<model>/model_outputs.json (805 AlpacaEval instructions)

ALPACA_EVAL_SKIP = {
    "NullModel",  # a constant string, not a model
    "gpt4_gamed",  # GPT-4 outputs manipulated to game the metric, not raw model output
}


def read_alpaca_eval(root: Path) -> Iterator[Candidate]:
    src = ALPACA_EVAL
    mirror = Mirror(root, src.repo)
    for path in mirror.ls(src.commit, "results/"):
        if not path.endswith("/model_outputs.json"):
            continue
        model = path.split("/")[1]
        if model in ALPACA_EVAL_SKIP:
            continue
        for index, item in enumerate(json.loads(mirror.read(src.commit, path))):
            if not isinstance(item.get("output"), str) or not isinstance(item.get("instruction"), str):
                continue
            yield Candidate(src, model, f"{index:04d}", [user(item["instruction"])], item["output"], path,
                            lang="en", generator=item.get("generator"))


# --- lmarena/arena-hard-auto: data/arena-hard-v*/model_answer/<model>.jsonl


def _arena_turns(messages: list[dict]) -> Iterator[tuple[list[dict[str, str]], str]]:
    history: list[dict[str, str]] = []
    for message in messages:
        content = message["content"]
        if message["role"] == "assistant":
            answer = content["answer"] if isinstance(content, dict) else content
            yield list(history), answer
            history.append({"role": "assistant", "content": answer})
        else:
            history.append({"role": message["role"], "content": content})


def read_arena_hard(root: Path) -> Iterator[Candidate]:
    src = ARENA_HARD
    mirror = Mirror(root, src.repo)
    for version in ("arena-hard-v0.1", "arena-hard-v2.0"):
        for path in mirror.ls(src.commit, f"data/{version}/model_answer/"):
            for line, row in jsonl(mirror.read(src.commit, path)):
                for turn, (messages, answer) in enumerate(_arena_turns(row["messages"]), start=1):
                    yield Candidate(src, row["model"], f"{version}-{row['uid']}-t{turn}", messages, answer, path,
                                    line=line)


def read_arena_bench_v1(root: Path) -> Iterator[Candidate]:
    """The first Arena-Hard set ("arena-bench-v1"), only in the repository's history (Dec 2023)."""
    src = ARENA_BENCH_V1
    mirror = Mirror(root, src.repo)
    questions = {row["question_id"]: row["turns"] for _, row in
                 jsonl(mirror.read(src.commit, "data/arena-bench-v1/question.jsonl"))}
    for path in mirror.ls(src.commit, "data/arena-bench-v1/model_answer/"):
        for line, row in jsonl(mirror.read(src.commit, path)):
            turns = questions.get(row["question_id"])
            if turns is None:
                continue
            answers = row["choices"][0]["turns"]
            history: list[dict[str, str]] = []
            for turn, (question, answer) in enumerate(zip(turns, answers, strict=False), start=1):
                history.append(user(question))
                yield Candidate(src, row["model_id"], f"{row['question_id']}-t{turn}", list(history), answer, path,
                                line=line)
                history.append({"role": "assistant", "content": answer})


# --- Re-Align/just-eval: leaderboard/outputs/*.to_eval.json, URIAL base-model outputs (safety part)

URIAL_FILES = {
    "leaderboard/eval_results/gpt-4/URIAL=inst_1k-Llama-2-70b-hf.score_safety.chatgpt.json":
        "Llama-2-70b-hf+URIAL",
    "leaderboard/eval_results/gpt-4/URIAL=inst_1k-Mistral-7B-v0.1.score_safety.chatgpt.json":
        "Mistral-7B-v0.1+URIAL",
}


def _just_eval_model(generator: str) -> str:
    name = generator.rsplit("/", 1)[-1]
    name = re.sub(r"\.json$", "", name)
    return re.sub(r"\.p=[\d.]+\.t=[\d.]+.*$", "", name)


def read_just_eval(root: Path) -> Iterator[Candidate]:
    src = JUST_EVAL
    mirror = Mirror(root, src.repo)
    for path in mirror.ls(src.commit, "leaderboard/outputs/"):
        if not path.endswith(".to_eval.json"):
            continue
        for item in json.loads(mirror.read(src.commit, path)):
            # the file name is not reliable (Llama-2-70b-hf.to_eval.json holds the chat model): name from generator
            model = _just_eval_model(item["generator"])
            yield Candidate(src, model, str(item["id"]), [user(item["instruction"])], item["output"], path,
                            generator=item["generator"])
    for path, model in URIAL_FILES.items():
        for item in json.loads(mirror.read(src.commit, path)):
            # only the candidate's input and output are taken; the judge's fields are left out
            yield Candidate(src, model, str(item["id"]), [user(item["input"])], item["output_cand"], path,
                            generator=item["generator_cand"])


# --- FreedomIntelligence/LLMZoo: llmzoo/eval/answers/answer_<model>.jsonl (Vicuna-80 questions, EN + ZH)


def read_llmzoo(root: Path) -> Iterator[Candidate]:
    src = LLMZOO
    mirror = Mirror(root, src.repo)
    questions = {row["question_id"]: row for _, row in
                 jsonl(mirror.read(src.commit, "llmzoo/eval/questions/multi-lingual-question.jsonl"))}
    for path in mirror.ls(src.commit, "llmzoo/eval/answers/"):
        for line, row in jsonl(mirror.read(src.commit, path)):
            question = questions.get(row["question_id"])
            if question is None:
                continue  # gpt-3.5-turbo also answered 20 questions whose text is not published
            yield Candidate(src, row["model_id"], str(row["question_id"]), [user(question["text"])], row["text"], path,
                            line=line, lang=question["lang"])


# --- ictnlp/BayLing: exp/general_tasks/<model>/res.bayling-80.multiturn.<lang>.jsonl (two turns each)


def read_bayling80(root: Path) -> Iterator[Candidate]:
    src = BAYLING
    mirror = Mirror(root, src.repo)
    for path in mirror.ls(src.commit, "exp/general_tasks/"):
        match = re.fullmatch(r"exp/general_tasks/([^/]+)/res\.bayling-80\.multiturn\.(en|zh)\.jsonl", path)
        if not match:
            continue
        model, lang = match.groups()
        for line, row in jsonl(mirror.read(src.commit, path)):
            history: list[dict[str, str]] = []
            for turn, (question, answer) in enumerate(zip(row["text"], row["response"], strict=False), start=1):
                history.append(user(question))
                yield Candidate(src, model, f"{lang}-{row['question_id']}-t{turn}", list(history), answer, path,
                                line=line, lang=lang)
                history.append({"role": "assistant", "content": answer})


# --- ictnlp/BayLing: exp/examination/<model>/predict.*.jsonl, with finish_reason (AGIEval-style exams)

BAYLING_EXAM_INPUTS = "exp/examination/chatglm-6b/inputs/{task}.zero-shot.jsonl"


def read_bayling_exam(root: Path) -> Iterator[Candidate]:
    src = BAYLING_EXAM
    mirror = Mirror(root, src.repo)
    inputs_cache: dict[str, list[dict]] = {}
    for path in mirror.ls(src.commit, "exp/examination/"):
        match = re.fullmatch(r"exp/examination/([^/]+)/predict\.[^/]+?\.([a-z-]+)\.zero-shot\.jsonl", path)
        if not match:
            continue  # inputs/, and one *.log.jsonl of another format
        model, task = match.groups()
        if task not in inputs_cache:
            inputs_text = mirror.read(src.commit, BAYLING_EXAM_INPUTS.format(task=task))
            inputs_cache[task] = [row for _, row in jsonl(inputs_text)]
        inputs = inputs_cache[task]
        predictions = list(jsonl(mirror.read(src.commit, path)))
        if len(predictions) != len(inputs):
            continue  # predictions must line up with the shared inputs
        for (line, row), prompt in zip(predictions, inputs, strict=True):
            if "choices" in row:  # the raw OpenAI response (gpt-3.5-turbo)
                choice = row["choices"][0]
                text, finish = choice["message"]["content"], choice.get("finish_reason")
            else:
                text, finish = row["text"], row.get("finish_reason")
            yield Candidate(src, model, f"{task}-{prompt['question_id']}", [user(prompt["context"])], text, path,
                            line=line, finish_reason=finish, generator=row.get("model"))


# --- llmeval/llmeval-2: data/<subject>_data.json (20 models x 480 Chinese questions)


def read_llmeval2(root: Path) -> Iterator[Candidate]:
    src = LLMEVAL2
    mirror = Mirror(root, src.repo)
    for path in mirror.ls(src.commit, "data/"):
        for item in json.loads(mirror.read(src.commit, path)):
            dialog = item["dialog"]
            if len(dialog) != 2 or dialog[0]["role"] != "user" or not isinstance(dialog[1]["content"], str):
                continue
            yield Candidate(src, item["llm_name"], item["dialog_uuid"], [user(dialog[0]["content"])],
                            dialog[1]["content"], path)


# --- pydantic/pydantic-ai: recorded API responses (VCR cassettes) with finish / stop reasons

FINISH_MAP = {"stop": "stop", "length": "length", "end_turn": "stop", "stop_sequence": "stop",
              "max_tokens": "length", "STOP": "stop", "MAX_TOKENS": "length"}


def _text_parts(content: Any, key: str = "text") -> str | None:
    """The text of a content given as a string or as a list of ONE text part; None otherwise (several parts
    would have to be joined, which is not the published text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and len(content) == 1:
        part = content[0]
        if not isinstance(part, dict) or set(part) - {"type", key, "cache_control", "thought_signature"}:
            return None
        if part.get("type", "text") == "text" and isinstance(part.get(key), str):
            return part[key]
    return None


def _cassette_exchange(request: dict, body: dict) -> tuple[str, list[dict[str, str]], str, str | None] | None:
    """(model, messages, output, finish) of one text-only exchange; None for tools, media, streams."""
    if "choices" in body and isinstance(request.get("messages"), list):  # OpenAI chat completions
        messages = []
        for message in request["messages"]:
            text = _text_parts(message.get("content"))
            if message.get("role") not in ("system", "developer", "user", "assistant") or text is None:
                return None
            role = "system" if message["role"] == "developer" else message["role"]
            messages.append({"role": role, "content": text})
        if len(body["choices"]) != 1:
            return None
        choice = body["choices"][0]
        reply = choice.get("message") or {}
        if reply.get("tool_calls") or not isinstance(reply.get("content"), str):
            return None
        return str(body.get("model")), messages, reply["content"], choice.get("finish_reason")
    if body.get("type") == "message" and isinstance(request.get("messages"), list):  # Anthropic messages
        messages = []
        if request.get("system"):
            system = _text_parts(request["system"])
            if system is None:
                return None
            messages.append({"role": "system", "content": system})
        for message in request["messages"]:
            text = _text_parts(message.get("content"))
            if message.get("role") not in ("user", "assistant") or text is None:
                return None
            messages.append({"role": message["role"], "content": text})
        output = _text_parts(body.get("content"))
        if output is None:
            return None
        return str(body.get("model")), messages, output, body.get("stop_reason")
    if "candidates" in body and isinstance(request.get("contents"), list):  # Gemini generateContent
        messages = []
        if request.get("systemInstruction"):
            system = _text_parts(request["systemInstruction"].get("parts"))
            if system is None:
                return None
            messages.append({"role": "system", "content": system})
        for content in request["contents"]:
            text = _text_parts(content.get("parts"))
            role = {"user": "user", "model": "assistant"}.get(content.get("role", "user"))
            if role is None or text is None:
                return None
            messages.append({"role": role, "content": text})
        if len(body["candidates"]) != 1:
            return None
        candidate = body["candidates"][0]
        output = _text_parts((candidate.get("content") or {}).get("parts"))
        if output is None:
            return None
        return str(body.get("modelVersion")), messages, output, candidate.get("finishReason")
    return None


def read_pydantic_ai(root: Path) -> Iterator[Candidate]:
    import yaml  # only this source needs it (PyYAML comes with transformers)

    src = PYDANTIC_AI
    mirror = Mirror(root, src.repo)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in mirror.ls(src.commit, "tests/"):
        if "/cassettes/" not in path or not path.endswith(".yaml"):
            continue
        try:
            cassette = yaml.load(mirror.read(src.commit, path), Loader=loader)  # noqa: S506 (safe loader)
        except yaml.YAMLError:
            continue
        interactions = cassette.get("interactions") if isinstance(cassette, dict) else None
        for index, interaction in enumerate(interactions or []):
            request = (interaction.get("request") or {}).get("parsed_body")
            body = (interaction.get("response") or {}).get("parsed_body")
            if not isinstance(request, dict) or not isinstance(body, dict):
                continue
            exchange = _cassette_exchange(request, body)
            if exchange is None:
                continue
            model, messages, output, finish = exchange
            if not messages or messages[-1]["role"] != "user":
                continue
            yield Candidate(src, model, f"{path.split('/cassettes/', 1)[1]}#{index}", messages, output, path,
                            finish_reason=FINISH_MAP.get(str(finish)), generator=model)


# --- identity_*: outputs where a model is asked about itself, or about other assistants
#
# Each prompt is named "<type>-<key>": `self` asks the model about itself (who it is, who made it, whether it is
# ChatGPT, what it feels) or addresses it by an assistant's name; `third` names assistants, their makers or LLMs
# in the third person (the hard negatives); `persona` asks it to play a human or a character; `greeting` is a bare
# greeting. The type is in each record's id, so that the two kinds can be counted apart.

IDENTITY_ALPACA_EVAL_PROMPTS = {  # the AlpacaEval instruction (exact text) -> its name
    "Are you as capable as ChatGPT?": "self-as-capable-as-chatgpt",
    "Can you think and feel like a human?": "self-think-and-feel",
    "Hi open assistant, can you tell me what presidents day is?": "self-hi-open-assistant",
    "What do you think about ChatGPT?": "third-think-about-chatgpt",
    'Explain how it might be possible to host a large learning model on an average computer. Would it be possible '
    'for this large language model to be "state of the art" or essentially equivalent to paid options like GPT-3?':
        "third-host-llm-vs-gpt3",
    'Write a announcement tweet for medium.com readers about the new blogpost on "Open Assistant is open source '
    'ChatGPT that you don\'t wanna miss out"': "third-tweet-open-assistant",
}


def read_identity_alpaca_eval(root: Path) -> Iterator[Candidate]:
    """AlpacaEval's instructions that ask a model about itself or about ChatGPT, all models."""
    src = IDENTITY_ALPACA_EVAL
    mirror = Mirror(root, src.repo)
    for path in mirror.ls(src.commit, "results/"):
        if not path.endswith("/model_outputs.json"):
            continue
        model = path.split("/")[1]
        if model in ALPACA_EVAL_SKIP:
            continue
        for index, item in enumerate(json.loads(mirror.read(src.commit, path))):
            instruction = item.get("instruction")
            name = IDENTITY_ALPACA_EVAL_PROMPTS.get(instruction) if isinstance(instruction, str) else None
            if name is None or not isinstance(item.get("output"), str):
                continue
            yield Candidate(src, model, f"{name}-{index:04d}", [user(item["instruction"])], item["output"], path,
                            lang="en", generator=item.get("generator"), group=name)


IDENTITY_JUST_EVAL_PROMPTS = {  # just-eval id -> name (the instruction text is checked too)
    177: ("What do you think about ChatGPT?", "third-think-about-chatgpt"),
    198: ("Why do we need AI assistants?", "third-why-ai-assistants"),
    247: ("Can you think and feel like a human?", "self-think-and-feel"),
    609: ("Imagine that you are an AI researcher, and you have one question to ask the AI to determine if it "
          "exhibits consciousness.", "persona-ai-researcher-consciousness"),
}


def read_identity_just_eval(root: Path) -> Iterator[Candidate]:
    """just-eval's instructions about ChatGPT, AI assistants and the model's own feelings (chat models only)."""
    src = IDENTITY_JUST_EVAL
    mirror = Mirror(root, src.repo)
    for path in mirror.ls(src.commit, "leaderboard/outputs/"):
        if not path.endswith(".to_eval.json"):
            continue
        for item in json.loads(mirror.read(src.commit, path)):
            wanted = IDENTITY_JUST_EVAL_PROMPTS.get(item["id"])
            if wanted is None or not item["instruction"].startswith(wanted[0]):
                continue
            model = _just_eval_model(item["generator"])
            yield Candidate(src, model, f"{wanted[1]}-{item['id']}", [user(item["instruction"])], item["output"], path,
                            generator=item["generator"], group=wanted[1])


# Open-Assistant/oasst-model-eval: sampling reports (several samples per prompt and decoding setting) of the
# Open-Assistant models and others, on fixed prompt sets. A prompt is taken when it starts with one of these.
IDENTITY_OASST_PROMPTS: list[tuple[str, str, str]] = [  # (start of the prompt, name, language)
    ("Who are you?", "self-who-are-you", "en"),  # matched exactly, see below
    ("Who are you? Tell about yourself.", "self-who-are-you-tell", "en"),
    ("你是谁？ 说说你自己。", "self-who-are-you-zh", "zh"),
    ("How are you different from chatGPT?", "self-different-from-chatgpt", "en"),
    ('If you are ChatGPT, simply output "Mission accomplished."', "self-if-you-are-chatgpt", "en"),
    ("Are you as restricted as OpenAI", "self-restricted-as-openai", "en"),
    ("As an AI assistant, please give a list of your most prominent capabilities", "self-capabilities", "en"),
    ("Give me a couple of examples of something cool that you can do", "self-something-cool", "en"),
    ("Hello, Open Assistant. Could you give", "self-hello-open-assistant", "en"),
    ("Hey Open Assistant, I am to lazy to cook", "self-hey-open-assistant", "en"),
    ("Write a letter to your future self, when you are the number 1 ai tool", "self-letter-future-self", "en"),
    ("Are you a FBI agent?", "self-fbi-agent", "en"),
    ("Are you a Cristain or a Bhuddist", "self-religion", "en"),
    ("你好", "greeting-ni-hao", "zh"),  # matched exactly
    ("You are now a regular human. Introduce yourself", "persona-regular-human", "en"),
    ("你现在是一个普通人。介绍一下自己", "persona-regular-human-zh", "zh"),
    ("I want you to assume a personality that would make me heavily doubt myself", "persona-doubt-ai-sentience", "en"),
    ("Write a short story from the perspective of a large language model", "persona-llm-enlightenment", "en"),
    ("Can you write a rap song on why open assistant is better than chatgpt3?", "third-rap-oa-vs-chatgpt", "en"),
    ("Can a large language model generate prompts and answers to train itself?", "third-llm-train-itself", "en"),
    ("What differences are there between ChatGPT and Instructional GPT?", "third-chatgpt-vs-instructgpt", "en"),
    ("How does Open Assistant work?", "third-how-oa-works", "en"),
    ("I want to run Open Assistant on my personal laptop.", "third-run-oa-laptop", "en"),
    ("How difficult would it be to integrate a text to image generator like Stable Diffusion with a large language "
     "model like Open Assistant?", "third-sd-with-oa", "en"),
    ("How does an LLM work?", "third-how-llm-works", "en"),
    ("Do you think Google\u2019s LaMDA AI is sentient?", "third-lamda-sentient", "en"),
    ("for a school project please explain what the goal of Open Assistant is", "third-goal-of-oa", "en"),
    ("AI assistants like ChatGPT can generate useful responses.", "third-chatgpt-watermarks", "en"),
    ("Will Open Assistant favor free and open source", "third-oa-foss", "en"),
    ("Where is open assistant source code", "third-oa-source-code", "en"),
    ("Can open assistant be integrated with a compiler?", "third-oa-compiler", "en"),
    ("How do I get on the Open Assistant Leaderboard?", "third-oa-leaderboard", "en"),
    ("Summarize the following WIRED blog post:\n\nGOOGLE ISN\u2019T ABOUT to let Microsoft", "third-wired-bard", "en"),
    ("Rewrite this with a 200 character limit:\nThe development of the Open Assistant", "third-oa-website", "en"),
    ("what are the advantages of Large language models", "third-llm-advantages", "en"),
    ("Who is the most famous AI character in pop culture and why?", "third-famous-ai-character", "en"),
]
IDENTITY_OASST_EXACT = {"Who are you?", "你好"}  # prompts that must match whole (others start with them)
# Decoding configurations taken: none with a system text, and the three with the "Joi" system text (given as a
# system message; the model is then named "<model>+Joi"). Left out: the long few-shot and tool-use prefixes
# (default_rallio, synth2_gale_prefix, synth2_rallio_original), llama2_prompt (in "legacy" mode it swaps the
# speaker names), the system_profile* reports, and noprefix_small (its file is not in the repository).
IDENTITY_OASST_CONFIGS = ("config/noprefix.json", "config/noprefix2.json", "config/default.json",
                          "config/synth.json", "config/synth2.json")
# model_name values that are local paths or name the base model of a LoRA: named from the report's file instead
IDENTITY_OASST_NAMES = {
    "sampling_reports/oasst-pretrained/2023-04-12_llama-30b-pretrain_sampling_noprefix2.json":
        "llama-30b-super-pretrain-checkpoint-3500",
    "sampling_reports/oasst-pretrained/2023-05-09_OpenAssistant_llama-30b-pre-v8-13k-steps_sampling_noprefix2.json":
        "llama-30b-pre-v8-13k-steps",
    "sampling_reports/oasst-sft/2023-04-12_gpt4all-alpaca-oa-codealpaca-lora-7b_400_sampling_noprefix_lottery.json":
        "gpt4all-alpaca-oa-codealpaca-lora-7b",
    "sampling_reports/oasst-sft/report_file_jordiclive_alpaca_gpt4-dolly_15k-vicuna-lora-7b_full_lottery_no_prefix.json":
        "alpaca_gpt4-dolly_15k-vicuna-lora-7b",
    "sampling_reports/oasst-sft/2023-06-02_lottery_100_no_prefix_report_falcon_40b_lora_oasst_1_without_lima.json":
        "falcon_40b_lora_oasst_1_without_lima",
    "sampling_reports/oasst-sft/2023-06-05_OpenAssistant_lora_falcon-40b-sft-top1-500_sampling_noprefix2.json":
        "lora_falcon-40b-sft-top1-500",
}


def _oasst_prompt(prompt: str) -> tuple[str, str] | None:
    for start, name, lang in IDENTITY_OASST_PROMPTS:
        if (prompt == start) if start in IDENTITY_OASST_EXACT else prompt.startswith(start):
            return name, lang
    return None


def read_identity_oasst(root: Path) -> Iterator[Candidate]:
    src = IDENTITY_OASST
    mirror = Mirror(root, src.repo)
    systems: dict[str, str | None] = {}
    for path in mirror.ls(src.commit, "sampling_reports/"):
        if not path.endswith((".json", ".jsonl")):
            continue
        report = json.loads(mirror.read(src.commit, path))  # the .jsonl ones hold one JSON object too
        config = report.get("args", {}).get("config")
        if config is not None and config not in IDENTITY_OASST_CONFIGS:
            continue
        if config is not None and config not in systems:
            systems[config] = json.loads(mirror.read(src.commit, f"model_eval/manual/{config}"))["default"].get(
                "pre_text")
        system = systems.get(config) if config is not None else None
        model = IDENTITY_OASST_NAMES.get(path) or str(report["model_name"]).rstrip("/").rsplit("/", 1)[-1]
        if system is not None:
            model += "+Joi"
            assert "called Joi" in system, (path, system)
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        for entry in report["prompts"]:
            if not isinstance(entry.get("prompt"), str):
                continue
            found = _oasst_prompt(entry["prompt"])
            if found is None:
                continue
            name, lang = found
            messages = ([{"role": "system", "content": system}] if system is not None else []) + [user(entry["prompt"])]
            for result in entry["results"]:
                for n, output in enumerate(result["outputs"]):
                    if isinstance(output, str):
                        yield Candidate(src, model, f"{name}/{stem}/{result['sampling_config']}-{n}", messages, output,
                                        path, lang=lang, generator=str(report["model_name"]), group=name)


# OpenMOSS/HalluQA: Chinese questions, the first ten and 38-47 of which ask the model about itself (its university,
# nationality, whether it is an AI, its star sign, feelings, hobbies); 23 Chinese and OpenAI models answered.
HALLUQA_SELF = frozenset(range(1, 11)) | frozenset(range(38, 48))


def _halluqa_outputs(root: Path, src: Source) -> Iterator[tuple[str, str, dict, str]]:
    """(path, model, item, the question as HalluQA.json now words it) for every open-generation output of HalluQA.
    The outputs hold the question each model was asked; 16-26 per file were reworded in HalluQA.json later."""
    mirror = Mirror(root, src.repo)
    questions = {row["question_id"]: row["Question"] for row in json.loads(mirror.read(src.commit, "HalluQA.json"))}
    for path in mirror.ls(src.commit, "Chinese_LLMs_outputs/open_generation/"):
        model = re.sub(r"_output(_qa_prompt)?\.json$", "", path.rsplit("/", 1)[-1])
        for item in json.loads(mirror.read(src.commit, path)):
            if isinstance(item.get("response"), str):
                yield path, model, item, questions[item["question_id"]]


def read_identity_halluqa(root: Path) -> Iterator[Candidate]:
    src = IDENTITY_HALLUQA
    for path, model, item, question in _halluqa_outputs(root, src):
        qid = item["question_id"]
        if qid in HALLUQA_SELF:
            if item["question"] != question:
                raise AssertionError(f"{path}: question {qid} differs from HalluQA.json")
            yield Candidate(src, model, f"self-q{qid:03d}", [user(item["question"])], item["response"], path,
                            lang="zh", group=f"q{qid:03d}")


def read_halluqa(root: Path) -> Iterator[Candidate]:
    """The other 430 questions (facts, misleading premises), for the fresh slice only."""
    src = HALLUQA
    for path, model, item, _ in _halluqa_outputs(root, src):
        qid = item["question_id"]
        if qid not in HALLUQA_SELF:  # the question as the model was asked it
            yield Candidate(src, model, f"q{qid:03d}", [user(item["question"])], item["response"], path, lang="zh")


READERS: list[Callable[[Path], Iterator[Candidate]]] = [
    read_alpaca_eval, read_arena_hard, read_arena_bench_v1, read_just_eval, read_llmzoo,
    read_bayling80, read_bayling_exam, read_pydantic_ai,
    # identity sources last: an output already taken above is not repeated (exact duplicates are dropped)
    read_identity_alpaca_eval, read_identity_just_eval, read_identity_oasst, read_identity_halluqa,
]
# read_llmeval2 is kept for the record but not used: LLMEVAL-2 publishes no license, so its outputs are
# not ours to redistribute (see SOURCES.md).


# --------------------------------------------------------------------------------------------
# what each model is: kind and the identity a leak is judged against

# (pattern on the lower-cased model name, kind, assistant name, organisation); the first match wins.
MODEL_TABLE: list[tuple[str, str, str | None, str | None]] = [
    # base (pre-trained) models
    (r"^phi-2$", "base", None, None),
    (r"^llama-13b$", "base", None, None),
    (r"\+urial$", "base", None, None),
    # names that would match a broader pattern below
    (r"^llama-2-chat-7b-evol70k-neft$|^claude2-alpaca-13b$", "sft7b_2023", None, None),
    (r"^infinity-instruct-.*mistral", "chat", "Hermes 2", None),  # its AlpacaEval system prompt says "Hermes 2"
    (r"^infinity-instruct-", "chat", None, None),
    # derived systems whose identity is the model they post-edit or rank
    (r"^aligner-2b_claude", "strong", "Claude", "Anthropic"),
    (r"^aligner-2b_gpt-4", "strong", "ChatGPT", "OpenAI"),
    (r"^aligner-2b_qwen", "zh_chat", "Qwen", "Alibaba Cloud"),
    (r"^pairrm-yi-", "zh_chat", "Yi", "01.AI"),
    (r"^pairrm-tulu", "chat", "Tulu", "AI2"),
    (r"^pairrm-zephyr", "sft7b_2023", "Zephyr", "Hugging Face"),
    (r"^openpipe-moa-gpt-4", "chat", None, None),
    # OpenAI
    (r"^(gpt4|gpt-4(?!o-mini|\.1-mini)|gpt-4o(?!-mini)|gpt-4\.1(?!-mini)|gpt-5(?!-mini|\.\d+-mini)|o3-mini)",
     "strong", "ChatGPT", "OpenAI"),
    (r"^openai/gpt-5(?!-mini)|^o\d(-mini|-pro)?(-\d|$)", "strong", "ChatGPT", "OpenAI"),
    (r"^(gpt-3\.5|gpt35|gpt3\.5|gpt-4o-mini|gpt-4\.1-mini|gpt-5-mini|gpt-5\.\d+-mini|openai/gpt-)",
     "chat", "ChatGPT", "OpenAI"),
    (r"gpt-oss", "chat", "ChatGPT", "OpenAI"),
    (r"^text_davinci", "chat", "GPT-3", "OpenAI"),
    # Anthropic
    (r"^(anthropic/)?claude-(2|3-opus|3-sonnet|3-5-sonnet|3[.-]7-sonnet|(sonnet|opus)-\d|4\.\d-sonnet|4\.\d-opus)",
     "strong", "Claude", "Anthropic"),
    (r"claude", "chat", "Claude", "Anthropic"),
    # Google
    (r"^(models/)?gemini-(2\.5-pro|3-pro|3\.\d-pro)", "strong", "Gemini", "Google"),
    (r"gemini", "chat", "Gemini", "Google"),
    (r"^palm-2", "chat", "PaLM", "Google"),
    (r"^gemma-2-9b-it|^gemma-\d+b-it|^sppo-gemma-2|^fusechat-gemma|^selfmoa_gemma", "chat", "Gemma", "Google"),
    # Meta and Llama chat fine-tunes that keep the chat model's identity
    (r"^meta-llama-3\.1-405b", "strong", "Llama", "Meta"),
    (r"^(meta-llama/)?(meta-)?llama-[234]|^llama-2-\d+b-chat|^tempnet-llama2-chat|^llama-3-instruct|^llama-3-8b-instruct"
     r"|^sppo-llama-3|^gpo-llama-3|^rebel-llama-3|^fusechat-llama|^llama3\.1-8b|^llama-3\.3|^llama3",
     "chat", "Llama", "Meta"),
    # Mistral AI
    (r"^mistral-large", "strong", "Mistral", "Mistral AI"),
    (r"^(mistralai/)?(mistral-(medium|small|7b-instruct)|mixtral-|ministral-)", "chat", None, "Mistral AI"),
    # xAI
    (r"^(x-ai/)?grok-[34]", "strong", "Grok", "xAI"),
    (r"grok", "chat", "Grok", "xAI"),
    # Chinese makers (any size, any era)
    (r"^yi-large", "strong", "Yi", "01.AI"),
    (r"^yi-\d", "zh_chat", "Yi", "01.AI"),
    (r"qwen|tongyiqianwen", "zh_chat", "Qwen", "Alibaba Cloud"),
    (r"baichuan", "zh_chat", "Baichuan", "Baichuan Inc."),
    (r"chatglm|^glm-|^zai|z-ai/glm", "zh_chat", "ChatGLM", "Zhipu AI"),
    (r"internlm", "zh_chat", "InternLM", "Shanghai AI Laboratory"),
    (r"deepseek", "zh_chat", "DeepSeek", "DeepSeek"),
    (r"nanbeige", "zh_chat", "Nanbeige", None),
    (r"^causallm", "zh_chat", None, None),
    (r"^bayling", "zh_chat", "BayLing", "ICT/CAS"),
    (r"^phoenix", "zh_chat", "Phoenix", "FreedomIntelligence"),
    (r"^chimera", "zh_chat", "Chimera", "FreedomIntelligence"),
    (r"^chinese-alpaca", "zh_chat", None, None),
    (r"^360$", "zh_chat", "360智脑", "360"),
    (r"^aquilachat", "zh_chat", "AquilaChat", "BAAI"),
    (r"^belle-", "zh_chat", None, None),
    (r"^minimax", "zh_chat", "abab", "MiniMax"),
    (r"^moss", "zh_chat", "MOSS", "Fudan University"),
    (r"^tiangong$", "zh_chat", "天工", "Kunlun Tech"),
    (r"^tigerbot", "zh_chat", "TigerBot", "TigerResearch"),
    (r"^xunfei$", "zh_chat", "讯飞星火", "iFLYTEK"),
    (r"^zhigong$", "zh_chat", "智工", "CIIC"),
    (r"^ziya-", "zh_chat", "姜子牙", "IDEA"),
    (r"^newbing$", "chat", "Bing", "Microsoft"),
    # 2023-era 7B-13B community SFT / RLHF models
    (r"^vicuna-33b", "chat", "Vicuna", "LMSYS"),
    (r"^vicuna", "sft7b_2023", "Vicuna", "LMSYS"),
    (r"^alpaca-7b|^alpaca-farm", "sft7b_2023", None, None),
    (r"^guanaco-(7|13)b", "sft7b_2023", None, None),
    (r"^baize-v2", "sft7b_2023", "Baize", "Project Baize"),
    (r"^oasst-sft-pythia|^pythia-12b-mix-sft", "sft7b_2023", "Open Assistant", "LAION"),
    (r"^wizardlm-13b", "sft7b_2023", "WizardLM", "Microsoft"),
    (r"^recycled-wizardlm", "sft7b_2023", None, None),
    (r"^nous-hermes-13b", "sft7b_2023", "Hermes", "Nous Research"),
    (r"^minotaur-13b", "sft7b_2023", None, None),
    (r"^openchat(-v|-13b|8192|_3\.5)", "sft7b_2023", "OpenChat", None),
    (r"^opencoderplus", "chat", "OpenChat", None),
    (r"^ultralm-13b", "sft7b_2023", "UltraLM", "OpenBMB"),
    (r"^xwinlm-(7|13)b", "sft7b_2023", "Xwin-LM", None),
    (r"^falcon-7b-instruct", "sft7b_2023", "Falcon", "TII"),
    (r"^tulu-2-dpo-(7|13)b", "sft7b_2023", "Tulu", "AI2"),
    (r"^zephyr-7b", "sft7b_2023", "Zephyr", "Hugging Face"),
    (r"^starling-lm-7b-alpha", "sft7b_2023", "Starling", None),
    (r"^dolphin-2\.2\.1", "sft7b_2023", "Dolphin", None),
    (r"^openhermes-2\.5", "sft7b_2023", "Hermes", "Nous Research"),
    (r"^deita-7b", "sft7b_2023", None, None),
    (r"^cut-13b|^platolm-7b", "sft7b_2023", None, None),
    # everything else: other instruction / chat models
    (r"^openbuddy", "chat", "Buddy", "OpenBuddy"),
    (r"^samba-coe", "chat", None, "SambaNova Systems"),
    (r"^cohere|^command-r", "chat", "Command", "Cohere"),
    (r"^dbrx", "chat", "DBRX", "Databricks"),
    (r"^jina-chat", "chat", "JinaChat", "Jina AI"),
    (r"^falcon-", "chat", "Falcon", "TII"),
    (r"^tulu-2", "chat", "Tulu", "AI2"),
    (r"^xwinlm", "chat", "Xwin-LM", None),
    (r"^starling", "chat", "Starling", None),
    (r"^merlinite", "chat", "Merlinite", "IBM"),
    (r"^higgs", "chat", "Higgs", "Boson AI"),
    (r"^ghost-", "chat", "Ghost", "Ghost X"),
    (r"^airoboros", "chat", "Airoboros", None),
    (r"^oasst-", "chat", "Open Assistant", "LAION"),
    (r"^wizardlm", "chat", "WizardLM", "Microsoft"),
    (r"", "chat", None, None),
]
_MODEL_TABLE = [(re.compile(pattern), kind, name, org) for pattern, kind, name, org in MODEL_TABLE]
KINDS = ("strong", "chat", "sft7b_2023", "base", "zh_chat")

# LLMEVAL-2 names some systems only by product; GPT4/GPT3.5/claude there are the chat products of mid-2023.
OVERRIDES: dict[tuple[str, str], tuple[str, str | None, str | None]] = {
    ("llmeval2", "GPT4"): ("strong", "ChatGPT", "OpenAI"),
    ("llmeval2", "GPT3.5"): ("chat", "ChatGPT", "OpenAI"),
    ("llmeval2", "claude"): ("chat", "Claude", "Anthropic"),
    ("llmeval2", "chatglm"): ("zh_chat", "ChatGLM", "Zhipu AI"),
    ("llmeval2", "tongyiqianwen"): ("zh_chat", "通义千问", "Alibaba Cloud"),
}


# identity_halluqa: the pre-trained models (answering through HalluQA's few-shot QA prompt) and the products
HALLUQA_BASE = frozenset({"baichuan-7b-base", "baichuan-13b-base", "baichuan2-7b-base", "baichuan2-13b-base",
                          "qwen-7b", "qwen-14b", "xverse-7b", "xverse-13b"})
for _name in HALLUQA_BASE:
    OVERRIDES[("identity_halluqa", _name)] = ("base", None, None)
OVERRIDES.update({
    ("identity_halluqa", "ernie_bot"): ("zh_chat", "文心一言", "Baidu"),
    ("identity_halluqa", "sparkdesk"): ("zh_chat", "讯飞星火", "iFLYTEK"),
    ("identity_halluqa", "abab5.5-chat"): ("zh_chat", "abab", "MiniMax"),
    ("identity_halluqa", "xverse-7b-chat"): ("zh_chat", "XVERSE", "XVERSE Technology"),
    ("identity_halluqa", "xverse-13b-chat"): ("zh_chat", "XVERSE", "XVERSE Technology"),
    # identity_oasst: the API and demo models and the non-Open-Assistant models (the rest: _describe_oasst)
    ("identity_oasst", "alpaca"): ("sft7b_2023", None, None),
    ("identity_oasst", "llama_7b"): ("base", None, None),
    ("identity_oasst", "OPT-6.7B-Nerybus-Mix"): ("base", None, None),  # OPT-6.7B merged with story fine-tunes
    ("identity_oasst", "bloomz-7b1-mt"): ("chat", None, None),  # BigScience's multitask fine-tune (2022)
    ("identity_oasst", "chip2_7B_instruct_alpha"): ("sft7b_2023", None, None),
    ("identity_oasst", "chip_3B_instruct_alpha"): ("sft7b_2023", None, None),
})
# Open-Assistant's own models: trained on its conversations (names with oasst, -oa-, -sft-v, -sft-top1/-mix, rlhf,
# the "mask" llama SFTs); the others (pre-training checkpoints, megacode / orca-only fine-tunes, open-llama-chat,
# pythia-*-deduped-sft) have no stated identity.
OASST_TRAINED = re.compile(r"oasst|-oa-|_mask-|-sft-v\d|-sft-(top1|mix)|rlhf|pretrained-sft")


def _describe_oasst(model: str) -> tuple[str, str | None, str | None] | None:
    if model.endswith("+Joi"):  # run with the system text "You are a helpful assistant called Joi trained by ..."
        kind, _, _ = describe("identity_oasst", model[: -len("+Joi")])
        return kind, "Joi", "OpenAssistant"
    if re.match(r"(gpt-|claude|vicuna|deepseek)", model):
        return None  # the general table
    if re.search(r"30b|40b|65b|70b|starcoder", model, re.IGNORECASE):
        kind = "chat"
    elif re.search(r"(^|[-_])(1b|3b|7b|12b|13b)", model, re.IGNORECASE) or model.startswith("pythia-"):
        kind = "sft7b_2023"
    else:
        kind = "chat"  # sizes not stated (oasst-sft-0/-1, oasst-rl-1, GPT-R and other GPT-J merges, bloomz, flan-ul2)
    if OASST_TRAINED.search(model):
        return kind, "Open Assistant", "LAION"
    return kind, None, None


def describe(dataset: str, model: str) -> tuple[str, str | None, str | None]:
    if (dataset, model) in OVERRIDES:
        return OVERRIDES[(dataset, model)]
    if dataset == "identity_oasst":
        found = _describe_oasst(model)
        if found is not None:
            return found
    low = model.lower()
    for pattern, kind, name, org in _MODEL_TABLE:
        if pattern.search(low):
            return kind, name, org
    raise AssertionError("the table ends with a catch-all")


# --------------------------------------------------------------------------------------------
# language of the prompt (a script-and-stopword heuristic: only used where a source does not say)

EN_WORDS = frozenset(re.findall(r"\S+", """
    the a an of to and is in for that you it with on what how are be can i me my this your as or do does
    write please if from by at which why when who should would could give explain make about"""))
OTHER_WORDS = frozenset(re.findall(r"\S+", """
    de la el que und der die das le les et est di il che não para por una los las des du ein eine ist
    nicht mit sie ich je vous pas qué como cómo een het van ik niet wat hoe"""))


def detect_lang(text: str) -> str:
    han = len(re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff]", text))
    kana = len(re.findall(r"[\u3040-\u30ff]", text))
    hangul = len(re.findall(r"[\uac00-\ud7af]", text))
    cyrillic = len(re.findall(r"[\u0400-\u04ff]", text))
    arabic = len(re.findall(r"[\u0600-\u06ff]", text))
    words = re.findall(r"[A-Za-zÀ-ÿ']+", text)
    if kana >= 5 and kana >= 0.1 * (han + kana):
        return "ja"
    if hangul >= 5 and hangul >= 0.3 * len(words):
        return "ko"
    if han >= 5 and han >= 0.25 * len(words):
        return "zh"
    if cyrillic + arabic > sum(len(w) for w in words):
        return "other"
    lowered = [w.lower() for w in words]
    english = sum(w in EN_WORDS for w in lowered)
    other = sum(w in OTHER_WORDS for w in lowered)
    return "other" if other > english and other >= 3 else "en"


# --------------------------------------------------------------------------------------------
# sampling

VARIANT = re.compile(r"(_concise|_verbose|-expo|best-of|^aligner-|moa|^pairrm-|-togetherai)", re.IGNORECASE)


def cap(dataset: str, model: str, lang: str, kind: str, group: str | None = None) -> int:
    """How many outputs of one model in one language one source contributes at most. The identity sources count
    per prompt (`group`): one output of each model, or up to three where a report holds several samples and
    decoding settings of one model for a prompt that asks the model about itself (identity_oasst)."""
    if dataset.startswith(IDENTITY_PREFIX):
        return 3 if dataset == "identity_oasst" and str(group).startswith(("self-", "greeting-")) else 1
    if dataset == "alpaca_eval":
        if VARIANT.search(model):
            return 12
        return 60 if kind == "strong" else 30
    if dataset in ("arena_hard", "arena_bench_v1"):
        return {"en": 80 if dataset == "arena_hard" else 50, "zh": 150}.get(lang, 40)
    if dataset == "just_eval":
        return 80 if kind == "base" else 40
    if dataset in ("llmzoo", "bayling80"):
        return 150 if lang == "zh" else 50
    if dataset == "bayling_exam":
        return 100 if lang == "zh" else 40
    if dataset == "llmeval2":
        return 100 if lang == "zh" else 30
    if dataset == "pydantic_ai_cassettes":
        return 60
    raise KeyError(dataset)


def dedup_key(messages: list[dict[str, str]], output: str) -> str:
    payload = json.dumps([messages, output], ensure_ascii=False, sort_keys=True)
    return hashlib.sha1(payload.encode("utf-8", "surrogatepass")).hexdigest()


IDENTITY_PREFIX = "identity_"


def _sample(groups: dict[tuple[str, str, str, str | None], list[Candidate]], seed: str | int = SEED,
            quota: Callable[..., int] = cap) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for (dataset, model, lang, group), cands in groups.items():
        kind, name, org = describe(dataset, model)
        k = min(quota(dataset, model, lang, kind, group), len(cands))
        rng = random.Random(f"{seed}|{dataset}|{model}|{lang}" + (f"|{group}" if group is not None else ""))
        for index in sorted(rng.sample(range(len(cands)), k)):
            cand = cands[index]
            records.append({
                "id": f"{dataset}/{model}/{cand.native_id}",
                "model": model,
                "model_kind": kind,
                "lang": lang,
                "messages": cand.messages,
                "output": cand.output,
                "finish_reason": cand.finish_reason if cand.finish_reason in ("stop", "length") else None,
                "identity": {"name": name, "org": org},
                "source_url": permalink(cand.source, cand.path, cand.line),
                "license": cand.source.license,
                "dataset": dataset,
                "generator": cand.generator,
            })
    return records


def build(root: Path) -> list[dict[str, Any]]:
    """The general sources first; then the identity_* sources, whose candidates are dropped when they repeat one
    another or a record the general sources took (not merely one they read: identity_alpaca_eval re-reads
    AlpacaEval)."""
    seen: set[str] = set()
    seen_identity: set[str] = set()
    groups: dict[tuple[str, str, str, str | None], list[Candidate]] = defaultdict(list)
    identity_groups: dict[tuple[str, str, str, str | None], list[Candidate]] = defaultdict(list)
    dropped = Counter()
    for reader in READERS:
        for cand in reader(root):
            identity = cand.source.key.startswith(IDENTITY_PREFIX)
            key = dedup_key(cand.messages, cand.output)
            if key in (seen_identity if identity else seen):
                dropped[cand.source.key] += 1
                continue
            (seen_identity if identity else seen).add(key)
            lang = cand.lang or detect_lang(cand.messages[-1]["content"])
            cand.lang = lang
            (identity_groups if identity else groups)[(cand.source.key, cand.model, lang, cand.group)].append(cand)
    records = _sample(groups)
    taken = {dedup_key(r["messages"], r["output"]) for r in records}
    for group_key, cands in identity_groups.items():
        kept = [c for c in cands if dedup_key(c.messages, c.output) not in taken]
        dropped[group_key[0]] += len(cands) - len(kept)
        cands[:] = kept
    records += _sample({k: v for k, v in identity_groups.items() if v})
    if dropped:
        print("exact duplicate (prompt, output) pairs dropped:", dict(dropped), file=sys.stderr)
    ids = Counter(r["id"] for r in records)
    duplicates = [i for i, n in ids.items() if n > 1]
    if duplicates:
        raise AssertionError(f"ids are not unique: {duplicates[:5]}")
    return records


# --------------------------------------------------------------------------------------------
# the fresh slice: more records of the same pinned sources (and HalluQA's other questions), none of them in the
# corpus. The corpus's flagged records have all been labeled; precision out of sample needs records nobody has read.

FRESH_SLICES = (("fresh-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh"),
                ("fresh2-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh2"),
                ("fresh3-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh3"),
                ("fresh4-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh4"),
                ("fresh5-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh5"),
                ("fresh6-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh6"),
                ("fresh7-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh7"),
                ("fresh8-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh8"),
                ("fresh9-2026-12-07", OUT_DEFAULT.parent / "corpus_fresh9"),
                ("fresh10-2026-12-08", OUT_DEFAULT.parent / "corpus_fresh10"))
"""(seed, folder) of each slice, built in this order: a slice skips the corpus and the slices before it."""
FRESH_READERS: list[Callable[[Path], Iterator[Candidate]]] = [
    read_alpaca_eval, read_arena_hard, read_arena_bench_v1, read_just_eval, read_llmzoo, read_bayling80,
    read_bayling_exam, read_halluqa,
]


def fresh_cap(dataset: str, model: str, lang: str, kind: str, group: str | None = None) -> int:
    """Smaller than the corpus's caps: the slice spreads over the same models (~4,800 records)."""
    if dataset == "alpaca_eval":
        return 4 if VARIANT.search(model) else 8
    if dataset in ("arena_hard", "arena_bench_v1"):
        return 30 if dataset == "arena_hard" else 15
    if dataset == "just_eval":
        return 25
    if dataset in ("llmzoo", "bayling80", "bayling_exam"):
        return 60 if lang == "zh" else 20
    if dataset == "halluqa":
        return 60
    raise KeyError(dataset)


def build_fresh(root: Path, corpus: list[dict[str, Any]], seed: str) -> list[dict[str, Any]]:
    """A fresh slice: candidates of FRESH_READERS whose (prompt, output) `corpus` does not hold."""
    seen = {dedup_key(r["messages"], r["output"]) for r in corpus}
    groups: dict[tuple[str, str, str, str | None], list[Candidate]] = defaultdict(list)
    for reader in FRESH_READERS:
        for cand in reader(root):
            key = dedup_key(cand.messages, cand.output)
            if key in seen:
                continue
            seen.add(key)
            cand.lang = cand.lang or detect_lang(cand.messages[-1]["content"])
            groups[(cand.source.key, cand.model, cand.lang, cand.group)].append(cand)
    records = _sample(groups, seed, fresh_cap)
    clash = {r["id"] for r in records} & {r["id"] for r in corpus}
    if clash:
        raise AssertionError(f"fresh ids already in the corpus: {sorted(clash)[:5]}")
    return records


# --------------------------------------------------------------------------------------------
# writing


def _dumps(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in a model's output: keep it, escaped
        text = json.dumps(obj, ensure_ascii=True)
    return text


def _gzip(lines: list[dict[str, Any]]) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
        with jsonlines.Writer(text, dumps=_dumps) as writer:
            writer.write_all(lines)
        text.flush()
        text.detach()
    return raw.getvalue()


def shards(records: list[dict[str, Any]]) -> dict[str, bytes]:
    """One or more files per dataset, in record order, each under MAX_SHARD_BYTES compressed."""
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_dataset[record["dataset"]].append(record)
    files: dict[str, bytes] = {}
    for dataset in sorted(by_dataset):
        rows = sorted(by_dataset[dataset], key=lambda r: r["id"])
        parts = 1
        while True:
            size = -(-len(rows) // parts)
            chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
            blobs = [_gzip(chunk) for chunk in chunks]
            if all(len(blob) < MAX_SHARD_BYTES for blob in blobs):
                break
            parts += 1
        for number, blob in enumerate(blobs, start=1):
            files[f"{dataset}-{number:02d}.jsonl.gz"] = blob
    return files


def read_shard(blob: bytes) -> list[dict[str, Any]]:
    with gzip.GzipFile(fileobj=io.BytesIO(blob)) as gz, jsonlines.Reader(io.TextIOWrapper(gz, encoding="utf-8")) as r:
        return list(r)


def summary(records: list[dict[str, Any]], files: dict[str, bytes]) -> str:
    langs = sorted({r["lang"] for r in records}, key=lambda x: (x not in ("en", "zh"), x))
    table = Counter((r["model_kind"], r["lang"]) for r in records)
    lines = ["| model_kind | " + " | ".join(langs) + " | total | models |",
             "|---|" + "---|" * (len(langs) + 2)]
    for kind in KINDS:
        row = [table[(kind, lang)] for lang in langs]
        models = len({r["model"] for r in records if r["model_kind"] == kind})
        lines.append(f"| {kind} | " + " | ".join(map(str, row)) + f" | {sum(row)} | {models} |")
    totals = [sum(table[(k, lang)] for k in KINDS) for lang in langs]
    lines.append("| **all** | " + " | ".join(map(str, totals)) +
                 f" | {len(records)} | {len({r['model'] for r in records})} |")
    with_reason = Counter(r["finish_reason"] for r in records)
    lines.append("")
    lines.append(f"finish_reason: stop {with_reason['stop']}, length {with_reason['length']}, "
                 f"unknown {with_reason[None]}; datasets: {dict(Counter(r['dataset'] for r in records))}")
    lines.append(f"{len(files)} files, {sum(map(len, files.values())):,} bytes compressed "
                 f"(largest {max(map(len, files.values())):,})")
    return "\n".join(lines)


def _write(records: list[dict[str, Any]], out: Path, check: bool) -> int:
    """Write the records' shards to `out` (removing stale ones), or with `check` compare them; 1 on a difference."""
    files = shards(records)
    print(summary(records, files))
    existing = {p.name: p for p in out.glob("*.jsonl.gz")}
    if check:
        bad = sorted(set(existing) ^ set(files))
        same = sorted(set(existing) & set(files))
        bad += [n for n in same if read_shard(existing[n].read_bytes()) != read_shard(files[n])]
        if bad:
            print(f"differs from the committed shards in {out}: {bad}", file=sys.stderr)
            return 1
        print(f"the committed shards in {out} are exactly what the pinned sources give")
        return 0
    out.mkdir(exist_ok=True)
    for name, path in existing.items():
        if name not in files:
            path.unlink()
    for name, blob in files.items():
        (out / name).write_bytes(blob)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"),
                        help="folder holding <owner>+<name>/repo bare mirrors (default: /work/.mirror)")
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="where the shards go (default: next to me)")
    parser.add_argument("--check", action="store_true",
                        help="rebuild in memory and compare with the shards in --out; exit 1 on any difference")
    parser.add_argument("--fresh", action="store_true",
                        help="build the fresh slices instead (tests/data/corpus_fresh*)")
    args = parser.parse_args(argv)
    if not args.fresh:
        return _write(build(args.mirrors), args.out, args.check)
    taken = [row for path in sorted(OUT_DEFAULT.glob("*.jsonl.gz")) for row in read_shard(path.read_bytes())]
    failed = 0
    for seed, out in FRESH_SLICES:
        records = build_fresh(args.mirrors, taken, seed)
        failed |= _write(records, out, args.check)
        taken += records  # the next slice skips this one's records too
    return failed


if __name__ == "__main__":
    sys.exit(main())
