from omnivec.cli import main

raise SystemExit(main())
