"""Test kits shipped with the package, for plugin authors.

* :class:`StatusMachineTest`: the status machine against a plain model, through a backend's status mapping.
* :class:`AccountingBackendContract` and :class:`CrmSourceContract`: pytest classes a plugin subclasses,
  providing one fixture (``accounting_subject`` / ``crm_subject``), to show its backend keeps the contract of
  :mod:`invoicebridge.core.backends`: exactly-once creates, batch partial failure, its status mapping,
  change sync, webhook verification and typed errors.
"""

from .accounting import AccountingBackendContract, AccountingSubject
from .crm import CrmSourceContract, CrmSubject
from .statuses import SimpleModel, StatusMachineTest, mapping_machine

__all__ = ["AccountingBackendContract", "AccountingSubject", "CrmSourceContract", "CrmSubject", "SimpleModel",
           "StatusMachineTest", "mapping_machine"]
