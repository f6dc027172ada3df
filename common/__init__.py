"""What actors, storage and learner share: config, environments, policy-side networks."""
