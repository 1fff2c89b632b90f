async def run_simulation(app):  # placeholder replaced below
    return None
