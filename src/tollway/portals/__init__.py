"""The web portals: /admin, /publisher and /devportal, server-rendered on the domain services."""
