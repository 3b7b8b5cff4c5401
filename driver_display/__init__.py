"""BusHail driver display: the onboard unit that alerts the driver and takes one-tap answers.

Modules, pure core first:

- ``alerts``: ``AlertStore`` (retained DriverAlerts in ``seq`` order, cleared by an
  empty payload) and the card order (next pick-up/drop-off first, then stop order).
- ``answers``: which buttons a card offers for its status; when it awaits an ack.
- ``sound``: ``SoundPolicy``, what to play when (new alert, reminders, silence).
- ``i18n``: every text in zh-TW and English; the spoken line and minutes-away label.
- ``chimes``: the two chimes, synthesised as WAV bytes.
- ``deliveries``: where a tap is on the screen (sending, recorded, refused and why).
- ``outbox``: ``SqliteOutbox``/``MemoryOutbox``, the taps kept until the server's receipt.
- ``display``: ``DriverDisplay``, the core (MQTT via ``broker_config.device.runtime``),
  usable without HTTP and many per process.
- ``sound_output``/``speech_output``: the ``SoundOutput`` Protocol and its outputs.
- ``position``: the optional GPS ``PositionSource`` Protocol.
- ``web``: the onboard screen (Starlette, SSE) and ``ScreenServer`` (uvicorn).
- ``settings``/``cli``: ``DisplaySettings`` (``BUSHAIL_DISPLAY_``), ``bushail-display``.
"""
