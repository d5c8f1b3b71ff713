"""A WSGI application with two middleware stacks, chosen by path.

Browser pages (monitor, admin) get the full ``MIDDLEWARE``; the wire APIs under
``API_PATH_PREFIXES`` get ``API_MIDDLEWARE`` only. Their views authenticate through DRF with bearer
tokens and never touch sessions, CSRF cookies or messages, so that middleware is pure cost on the
dispatcher's hot path.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler


class ApiWSGIHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE, once, at start-up (single-threaded).
        browser_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = browser_middleware


class PathRoutedApplication:
    def __init__(self):
        self.browser = WSGIHandler()
        self.api = ApiWSGIHandler()
        self.prefixes = tuple(settings.API_PATH_PREFIXES)

    def __call__(self, environ, start_response):
        handler = self.api if environ.get("PATH_INFO", "").startswith(self.prefixes) else self.browser
        return handler(environ, start_response)
