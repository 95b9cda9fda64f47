"""A demo site with two weeks of realistic Web Vitals, for ``perfbeacon serve --demo``."""
