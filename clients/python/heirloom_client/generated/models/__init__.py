"""Contains all the data models used in inputs/outputs"""

from .abuse_signal_out import AbuseSignalOut
from .abuse_signal_page import AbuseSignalPage
from .active_users_response_active_users import ActiveUsersResponseActiveUsers
from .admin_health_out import AdminHealthOut
from .admin_health_out_checks import AdminHealthOutChecks
from .admin_job_out import AdminJobOut
from .admin_job_out_metadata_type_0 import AdminJobOutMetadataType0
from .admin_job_out_provenance_type_0 import AdminJobOutProvenanceType0
from .admin_job_out_quality_type_0 import AdminJobOutQualityType0
from .admin_purchase_out import AdminPurchaseOut
from .admin_purchase_page import AdminPurchasePage
from .admin_queue_out import AdminQueueOut
from .album_out import AlbumOut
from .album_out_counts import AlbumOutCounts
from .album_share_out import AlbumShareOut
from .alert_list import AlertList
from .alert_out import AlertOut
from .audit_out import AuditOut
from .audit_page import AuditPage
from .body_create_album import BodyCreateAlbum
from .body_create_job import BodyCreateJob
from .body_create_job_operations import BodyCreateJobOperations
from .budget_in import BudgetIn
from .budgets_response_budgets import BudgetsResponseBudgets
from .candidate_out import CandidateOut
from .check_out import CheckOut
from .checkout_in import CheckoutIn
from .checkout_out import CheckoutOut
from .choose_request import ChooseRequest
from .control_action import ControlAction
from .control_audit_list import ControlAuditList
from .control_in import ControlIn
from .cost_report_period import CostReportPeriod
from .cost_report_response_cost_report import CostReportResponseCostReport
from .delivery_out import DeliveryOut
from .delivery_page import DeliveryPage
from .endpoint_out import EndpointOut
from .erasure_out import ErasureOut
from .error_body import ErrorBody
from .error_info import ErrorInfo
from .error_info_details_type_0 import ErrorInfoDetailsType0
from .error_response import ErrorResponse
from .export_list import ExportList
from .export_out import ExportOut
from .failure_rates_response_failure_rates import FailureRatesResponseFailureRates
from .get_candidate_file_kind import GetCandidateFileKind
from .get_result_format_type_0 import GetResultFormatType0
from .grant_in import GrantIn
from .grant_out import GrantOut
from .healthz_response_healthz import HealthzResponseHealthz
from .job_list import JobList
from .job_out import JobOut
from .job_out_metadata_type_0 import JobOutMetadataType0
from .job_out_provenance_type_0 import JobOutProvenanceType0
from .job_out_quality_type_0 import JobOutQualityType0
from .job_status import JobStatus
from .key_create import KeyCreate
from .key_created import KeyCreated
from .key_list import KeyList
from .key_out import KeyOut
from .key_revoke import KeyRevoke
from .key_revoked import KeyRevoked
from .ledger_line_out import LedgerLineOut
from .ledger_page import LedgerPage
from .me_out import MeOut
from .pack_out import PackOut
from .poller_out import PollerOut
from .pricing_out import PricingOut
from .pricing_out_prices import PricingOutPrices
from .priority_backlog_out import PriorityBacklogOut
from .purchase_out import PurchaseOut
from .purchase_page import PurchasePage
from .quality_gate_response_quality_gate import QualityGateResponseQualityGate
from .queue_liveness_out import QueueLivenessOut
from .queue_metric_out import QueueMetricOut
from .queue_metrics_page import QueueMetricsPage
from .queue_out import QueueOut
from .resume_response_resume import ResumeResponseResume
from .resume_scope import ResumeScope
from .retry_request import RetryRequest
from .set_budget_period import SetBudgetPeriod
from .set_budget_response_set_budget import SetBudgetResponseSetBudget
from .share_create import ShareCreate
from .share_list import ShareList
from .share_out import ShareOut
from .signup_accepted import SignupAccepted
from .signup_confirm_in import SignupConfirmIn
from .signup_confirmed import SignupConfirmed
from .signup_in import SignupIn
from .stop_response_stop import StopResponseStop
from .stop_scope import StopScope
from .storage_out import StorageOut
from .stream_token_in import StreamTokenIn
from .stream_token_out import StreamTokenOut
from .stripe_webhook_out import StripeWebhookOut
from .task_queue_stats_out import TaskQueueStatsOut
from .tier import Tier
from .tier_out import TierOut
from .tier_queue_out import TierQueueOut
from .user_create import UserCreate
from .user_created import UserCreated
from .user_out import UserOut
from .user_page import UserPage
from .user_summary_out import UserSummaryOut
from .user_update import UserUpdate
from .webhook_in import WebhookIn
from .webhook_in_events_item import WebhookInEventsItem
from .webhook_out import WebhookOut

__all__ = (
    "AbuseSignalOut",
    "AbuseSignalPage",
    "ActiveUsersResponseActiveUsers",
    "AdminHealthOut",
    "AdminHealthOutChecks",
    "AdminJobOut",
    "AdminJobOutMetadataType0",
    "AdminJobOutProvenanceType0",
    "AdminJobOutQualityType0",
    "AdminPurchaseOut",
    "AdminPurchasePage",
    "AdminQueueOut",
    "AlbumOut",
    "AlbumOutCounts",
    "AlbumShareOut",
    "AlertList",
    "AlertOut",
    "AuditOut",
    "AuditPage",
    "BodyCreateAlbum",
    "BodyCreateJob",
    "BodyCreateJobOperations",
    "BudgetIn",
    "BudgetsResponseBudgets",
    "CandidateOut",
    "CheckOut",
    "CheckoutIn",
    "CheckoutOut",
    "ChooseRequest",
    "ControlAction",
    "ControlAuditList",
    "ControlIn",
    "CostReportPeriod",
    "CostReportResponseCostReport",
    "DeliveryOut",
    "DeliveryPage",
    "EndpointOut",
    "ErasureOut",
    "ErrorBody",
    "ErrorInfo",
    "ErrorInfoDetailsType0",
    "ErrorResponse",
    "ExportList",
    "ExportOut",
    "FailureRatesResponseFailureRates",
    "GetCandidateFileKind",
    "GetResultFormatType0",
    "GrantIn",
    "GrantOut",
    "HealthzResponseHealthz",
    "JobList",
    "JobOut",
    "JobOutMetadataType0",
    "JobOutProvenanceType0",
    "JobOutQualityType0",
    "JobStatus",
    "KeyCreate",
    "KeyCreated",
    "KeyList",
    "KeyOut",
    "KeyRevoke",
    "KeyRevoked",
    "LedgerLineOut",
    "LedgerPage",
    "MeOut",
    "PackOut",
    "PollerOut",
    "PricingOut",
    "PricingOutPrices",
    "PriorityBacklogOut",
    "PurchaseOut",
    "PurchasePage",
    "QualityGateResponseQualityGate",
    "QueueLivenessOut",
    "QueueMetricOut",
    "QueueMetricsPage",
    "QueueOut",
    "ResumeResponseResume",
    "ResumeScope",
    "RetryRequest",
    "SetBudgetPeriod",
    "SetBudgetResponseSetBudget",
    "ShareCreate",
    "ShareList",
    "ShareOut",
    "SignupAccepted",
    "SignupConfirmIn",
    "SignupConfirmed",
    "SignupIn",
    "StopResponseStop",
    "StopScope",
    "StorageOut",
    "StreamTokenIn",
    "StreamTokenOut",
    "StripeWebhookOut",
    "TaskQueueStatsOut",
    "Tier",
    "TierOut",
    "TierQueueOut",
    "UserCreate",
    "UserCreated",
    "UserOut",
    "UserPage",
    "UserSummaryOut",
    "UserUpdate",
    "WebhookIn",
    "WebhookInEventsItem",
    "WebhookOut",
)
