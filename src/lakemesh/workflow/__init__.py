"""The access-request workflow, as computation and storage the service layer composes:

* ``rules``: the declarative approval rules that decide what happens to a request;
* ``tickets``: requests as tickets with a history, moved by compare-and-set;
* ``links``: the signed, single-use approve and reject links of the approval mail.

Provisioning grants and running the whole as typed commands is the service layer's
(``lakemesh.service.commands.requests``)."""
