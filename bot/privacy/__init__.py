"""Data protection: what each table holds about a person, `gdpr export` and `gdpr forget`, retention.

May use people/ (who is who, erasure records), outbound/ (templates), config/, store/ and core/.
"""
