"""The console's pages and endpoints, one module per page (assembled in ``console.router``)."""
