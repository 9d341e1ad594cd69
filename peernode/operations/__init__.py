"""Operator-side code: packaging films, the origin seeder and its metrics."""
