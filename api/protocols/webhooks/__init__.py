"""GitHub and GitLab webhooks: verify the request (``verify``), read the payload into a
``ForgeNotice`` and its CI report (``github``, ``gitlab``, ``mapping``; pure, so every mapping
row is unit-tested without a server), then match it to a run, record it and signal (``receive``)."""
