"""Query engine: rollup histograms, percentiles, trends, breakdowns, scores and the read API."""
