import sys

from pilot.main import main

sys.exit(main())
