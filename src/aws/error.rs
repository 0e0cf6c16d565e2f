//! SDK errors → the one error type of the AWS ports (`crate::ports::aws::AwsError`), classified
//! so the runbook engine can decide whether a retry may help: throttling and transient failures
//! may be retried, a missing resource or a refused request never is.

use aws_sdk_route53::config::http::HttpResponse;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::aws::AwsError;

/// The call an SDK error came from, for messages that say what was being done to what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The API operation, e.g. `ChangeResourceRecordSets`.
    pub operation: &'static str,
    /// The resource in words, e.g. `ECS service web in cluster standby`.
    pub resource: &'a str,
}

/// Error codes AWS uses for rate limiting (the SDK's own retry classifier uses the same list).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "SlowDown",
];

const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchHostedZone",
    "NoSuchChange",
    "NoSuchHealthCheck",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ClusterNotFoundException",
];

const INVALID_CODES: &[&str] = &[
    "InvalidInput",
    "InvalidChangeBatch",
    "InvalidArgument",
    "InvalidDomainName",
    "InvalidParameterException",
    "InvalidParameterValue",
    "ValidationException",
    "ValidationError",
    "ClientException",
    "PlatformTaskDefinitionIncompatibilityException",
    "PlatformUnknownException",
    "UnsupportedFeatureException",
];

const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "ServerException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
];

/// Classifies an error answer from AWS by its code, falling back on the HTTP status.
pub(crate) fn classify_service(
    call: Call<'_>,
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
) -> AwsError {
    let described = format!(
        "{} on {}: {} (HTTP {status}): {}",
        call.operation,
        call.resource,
        code.unwrap_or("no error code"),
        message.unwrap_or("no message"),
    );
    let code = code.unwrap_or_default();
    if THROTTLING_CODES.contains(&code) || status == 429 {
        AwsError::Throttled(described)
    } else if NOT_FOUND_CODES.contains(&code) {
        AwsError::not_found(
            call.resource,
            format!(
                "{}: {code}: {}",
                call.operation,
                message.unwrap_or("no message")
            ),
        )
    } else if INVALID_CODES.contains(&code) {
        AwsError::Invalid(described)
    } else if TRANSIENT_CODES.contains(&code) || (500..600).contains(&status) {
        AwsError::Transient(described)
    } else {
        // Access denied, expired credentials, codes we do not know: a person has to look.
        AwsError::Other(described)
    }
}

/// Classifies any SDK error. The SDK has already retried what its own policy retries; this
/// decides what the runbook engine may still try again.
pub(crate) fn classify<E>(call: Call<'_>, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let context = || {
        format!(
            "{} on {}: {}",
            call.operation,
            call.resource,
            DisplayErrorContext(err)
        )
    };
    match err {
        SdkError::ServiceError(service) => classify_service(
            call,
            service.err().code(),
            service.err().message(),
            service.raw().status().as_u16(),
        ),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => AwsError::Transient(context()),
        // A user error here is a malformed endpoint or similar: retrying cannot fix it.
        SdkError::DispatchFailure(dispatch) if dispatch.is_user() => AwsError::Other(context()),
        SdkError::DispatchFailure(_) => AwsError::Transient(context()),
        // Missing credentials and unbuildable requests end up here.
        _ => AwsError::Other(context()),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;

    use super::*;

    const CALL: Call<'static> = Call {
        operation: "ChangeResourceRecordSets",
        resource: "hosted zone Z1",
    };

    fn service_error(code: &str, status: u16) -> SdkError<ChangeResourceRecordSetsError> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("the message")
            .build();
        let raw = HttpResponse::new(status.try_into().unwrap(), "".into());
        SdkError::service_error(ChangeResourceRecordSetsError::generic(meta), raw)
    }

    #[test]
    fn throttling_codes_and_429_are_throttled() {
        for (code, status) in [
            ("Throttling", 400),
            ("PriorRequestNotComplete", 400),
            ("ThrottlingException", 400),
            ("SomethingNew", 429),
        ] {
            let err = classify(CALL, &service_error(code, status));
            assert!(matches!(err, AwsError::Throttled(_)), "{code}: {err:?}");
            assert!(err.is_retryable());
        }
    }

    #[test]
    fn validation_errors_are_invalid_and_never_retried() {
        for code in [
            "InvalidInput",
            "InvalidChangeBatch",
            "InvalidParameterException",
        ] {
            let err = classify(CALL, &service_error(code, 400));
            assert!(matches!(err, AwsError::Invalid(_)), "{code}: {err:?}");
            assert!(!err.is_retryable());
            let text = err.to_string();
            assert!(text.contains("hosted zone Z1"), "{text}");
            assert!(
                text.contains(code) && text.contains("the message"),
                "{text}"
            );
        }
    }

    #[test]
    fn missing_resources_are_not_found_naming_the_resource() {
        let err = classify(CALL, &service_error("NoSuchHostedZone", 404));
        assert_eq!(
            err,
            AwsError::NotFound {
                resource: "hosted zone Z1".into(),
                detail: "ChangeResourceRecordSets: NoSuchHostedZone: the message".into(),
            }
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn ecs_missing_services_and_clusters_are_not_found() {
        for code in [
            "ServiceNotFoundException",
            "ServiceNotActiveException",
            "ClusterNotFoundException",
        ] {
            let err = classify_service(
                Call {
                    operation: "UpdateService",
                    resource: "ECS service web in cluster standby",
                },
                Some(code),
                Some("Service not found."),
                400,
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "ECS service web in cluster standby not found: UpdateService: {code}: Service not found."
                )
            );
        }
    }

    #[test]
    fn server_errors_are_transient() {
        for (code, status) in [("InternalFailure", 500), ("Whatever", 503), ("", 502)] {
            let err = classify(CALL, &service_error(code, status));
            assert!(matches!(err, AwsError::Transient(_)), "{code}: {err:?}");
        }
    }

    #[test]
    fn unknown_client_errors_are_other() {
        let err = classify(CALL, &service_error("AccessDenied", 403));
        assert!(matches!(err, AwsError::Other(_)), "{err:?}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn timeouts_and_connection_failures_are_transient() {
        let timeout: SdkError<ChangeResourceRecordSetsError> =
            SdkError::timeout_error("attempt timed out");
        assert!(matches!(classify(CALL, &timeout), AwsError::Transient(_)));
        let refused: SdkError<ChangeResourceRecordSetsError> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let err = classify(CALL, &refused);
        assert!(matches!(err, AwsError::Transient(_)), "{err:?}");
        assert!(err.to_string().contains("connection refused"), "{err}");
        let user: SdkError<ChangeResourceRecordSetsError> =
            SdkError::dispatch_failure(ConnectorError::user("bad endpoint".into()));
        assert!(matches!(classify(CALL, &user), AwsError::Other(_)));
    }

    #[test]
    fn construction_failures_are_not_retried() {
        let err: SdkError<ChangeResourceRecordSetsError> =
            SdkError::construction_failure("no credentials");
        let err = classify(CALL, &err);
        assert!(matches!(err, AwsError::Other(_)), "{err:?}");
        assert!(err.to_string().contains("no credentials"), "{err}");
    }
}
