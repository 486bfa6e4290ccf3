"""The package logger, ``langchain_smallest``.

No handler is installed (the application decides where logs go). Lines carry request
ids and sizes, never the API key; user text is never logged.
"""

import logging

logger = logging.getLogger("langchain_smallest")
