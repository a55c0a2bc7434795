"""Code that two or more services share: events, topics, settings, the city data, clients."""
