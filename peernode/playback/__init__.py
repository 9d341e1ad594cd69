"""Watching while downloading: a loopback HTTP server with Range support over the
decrypted film, and the pure range and read-ahead planning behind it.
"""
