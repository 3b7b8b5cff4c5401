"""The operator console at /ops: sign-in, live board (SSE), service quality, broadcast,
audit log.

``router`` assembles the pages of ``routes/`` (one module per page); the other modules
are what they show: ``live`` (the board's snapshot), ``quality`` (the figures),
``queries`` (database reads), ``charts`` (SVG), ``i18n`` (texts), ``rendering``
(templates); and who may see them: ``sessions`` (sign-ins stored hashed, with expiry),
``throttle`` (failed sign-ins), ``audit`` (what operators did).
"""
