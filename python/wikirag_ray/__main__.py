from wikirag_ray.cli import main

raise SystemExit(main())
