from evalgen.cli import main

raise SystemExit(main())
