"""Code both BusHail devices need: speech, audio sinks, the speech queue, the runtime.

The stop gateway and the driver display both depend on this sub-package and never on
each other. Modules:

- :mod:`~broker_config.device.audio`: audio sinks (``aplay``, WAV folder, text only).
- :mod:`~broker_config.device.speech`: the ``Speaker`` interface; pyttsx3 on espeak-ng
  in one worker thread; Mandarin with ``sit/cmn-latn-pinyin``.
- :mod:`~broker_config.device.speech_queue`: one utterance at a time, urgent first,
  repeats merged.
- :mod:`~broker_config.device.runtime`: device settings, MQTT session with birth/will
  status, periodic health, broker loss/reconnect logging.
- :mod:`~broker_config.device.receipts`: a device's events kept and sent again until the
  server's receipt for them arrives; :mod:`~broker_config.device.resend` is its pure
  schedule (which pending events to send when).

Importing this package loads no TTS engine: pyttsx3 starts only when a speaker with
an audio sink first speaks.
"""
