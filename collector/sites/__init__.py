"""Sites: the monitored web sites, their public keys, read tokens and allowed origins."""
