"""stop_gateway: the talking bus stop (``bushail-gateway --stop STOP_ID``).

One gateway serves one stop. It logs in as ``stop.{stop_id}``, hears the stop's calls
and operator announcements over MQTT, says them in Mandarin and English (the rider's
language first) through the shared device speech in :mod:`broker_config.device`, and
handles the stop's buttons: repeat, help, cancel, and booking without a phone.

Modules: ``announcements`` and ``numbers`` (pure wording and number reading),
``calls`` (pure call tracking: seq, moments, ETA thresholds), ``buttons`` (keypads and
the routes offered for booking), ``booking`` (the spoken route menu and the booking
it sends), ``presses`` (help and cancel sent until the server's receipt, and what the
stop says of them), ``gateway`` (the device), ``settings``
(``BUSHAIL_GATEWAY_``), ``cli``. Data: ``lexicon.zh-TW.json``, ``lexicon.en.json``.
"""
