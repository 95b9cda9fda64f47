"""Keys and tokens, origin checks, rate limits."""
