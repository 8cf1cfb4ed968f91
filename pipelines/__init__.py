

# The demo's simulated drop injects a few bad records (the library's simulator writes none by default), so that the
# quarantine has something to show.
DEMO_BAD_RATE = 0.001
