"""The rider web app's pages, one module per page (assembled in ``web.router``)."""
