import sys

from credhelper.cli import main

sys.exit(main())
