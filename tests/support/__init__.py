"""What several suites (and the benches) share: the ASR check, the framework harnesses, the
conformance drivers and scenarios, a fake clock, the soak. Leaf folders keep only their own
tests; anything two suites use lives here and is imported as ``tests.support.<module>``."""
