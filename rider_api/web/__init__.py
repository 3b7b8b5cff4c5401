"""The rider web app at ``/``: server-rendered pages, enhanced by a small script.

``router`` assembles the pages of ``routes/`` (one module per page); ``views`` holds the
rendering helpers they share, ``deps`` the signed-in rider, ``strings`` every text.
"""
