"""Transport protection as Helsenorge.Messaging does it: CMS sign-then-encrypt with X.509 certificates.

``certificates`` makes test certificates at run time (a test CA, and per HER-id
a signing and an encryption certificate), ``validator`` judges a certificate the
way Helsenorge.Registries' ``CertificateValidator`` does, ``cms`` signs then
encrypts and decrypts then verifies (pure functions over bytes), and
``protection`` puts them on an :class:`~mocks.exchange.envelope.Envelope`: the
sender's step and the receiver's step, with certificates looked up in AR.
Nothing here opens a socket or reads a clock.
"""
