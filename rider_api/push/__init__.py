"""Web Push: riders' notifications on a locked phone (docs/push.md).

``notices`` decides what a committed change tells a rider (pure), ``texts`` words it in
zh-TW and English (pure), ``vapid`` keeps the server's key, ``subscriptions`` checks and
stores browsers, ``sender`` delivers off the commit path, ``service`` ties them together
for ``app.running``.
"""
