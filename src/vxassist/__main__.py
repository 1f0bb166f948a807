from vxassist.cli import main

raise SystemExit(main())
