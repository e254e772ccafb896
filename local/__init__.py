"""Local tooling: the Pulumi program under mocks, and the whole system on an emulated AWS."""
