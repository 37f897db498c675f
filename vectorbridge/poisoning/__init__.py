"""Corpus poisoning: measure it (:class:`~vectorbridge.poisoning.attack.PoisonAttack` writes
GASLITE-style passages against your embedding model) and blunt it
(:class:`~vectorbridge.poisoning.defence.PoisonDetector` flags suspicious passages at ingest;
its filter keeps them out of every search). Measured by ``vectorbridge bench poisoning``."""
