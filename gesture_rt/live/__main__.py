import sys

from gesture_rt.live.app import main

sys.exit(main())
