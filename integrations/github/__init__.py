"""The coding tasks' GitHub client: REST calls with a user's OAuth token or an App installation token, the
OAuth code exchange, App installation tokens (RS256 JWTs) and the rate limit last seen."""
