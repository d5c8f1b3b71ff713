import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaweb.settings")
django.setup(set_prefix=False)

from pandaweb.handlers import PathRoutedApplication  # noqa: E402  (needs the app registry)

application = PathRoutedApplication()
