"""Logging in to the mail servers: a password, or an OAuth2 token for XOAUTH2 (Microsoft Entra
through msal, or a command that prints one). May use config/ and core/; IMAP and SMTP use it.
"""
