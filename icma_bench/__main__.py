from icma_bench.cli import main

raise SystemExit(main())
