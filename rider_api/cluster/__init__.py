"""Several API instances on one database: leadership and change notifications."""
