"""The rider web app at ``/``: server-rendered pages, enhanced by a small script."""
