"""Where patches lie on the Earth: the bundled world outline and what is drawn or
counted with it (the map page, a release's coverage)."""
