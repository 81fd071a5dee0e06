/*
 * k8s_names.h - the syntax rules Kubernetes and container registries apply
 * to names, so that a pipeline is rejected at validation rather than by the
 * API server hours later.
 *
 * Each check takes a NUL-terminated string and returns NULL when it is
 * valid, or a short static reason when it is not, worded like the API
 * server's own messages so that the caller can write
 *
 *	"invalid name \"%s\": %s", s, reason
 *
 * They never allocate and never fail otherwise.
 */
#ifndef SLUICE_K8S_NAMES_H
#define SLUICE_K8S_NAMES_H

/*
 * DNS-1123 label: 1 to 63 characters of [a-z0-9-], starting and ending
 * with an alphanumeric character (metadata.name, stage names, Kueue queue
 * names, Job names).
 */
const char *k8s_check_dns1123_label(const char *s);

/*
 * DNS-1123 subdomain: 1 to 253 characters, dot-separated DNS-1123 labels
 * (object names such as PersistentVolumeClaims and PriorityClasses).
 */
const char *k8s_check_dns1123_subdomain(const char *s);

/*
 * Qualified name, the syntax of label keys, node selector keys, taint
 * keys and extended resource names: an optional DNS-1123 subdomain prefix
 * and "/", then a name of 1 to 63 characters of [A-Za-z0-9-_.] starting
 * and ending with an alphanumeric character.
 */
const char *k8s_check_qualified_name(const char *s);

/*
 * Label value: empty, or 1 to 63 characters of [A-Za-z0-9-_.] starting and
 * ending with an alphanumeric character.
 */
const char *k8s_check_label_value(const char *s);

/*
 * Environment variable name as Sluice accepts it: [A-Za-z_][A-Za-z0-9_]*,
 * at most 255 characters.
 */
const char *k8s_check_env_name(const char *s);

/*
 * Resource quantity (k8s.io/apimachinery resource.Quantity):
 * [+-]?(digits | digits.digits | digits. | .digits) followed by one of the
 * binary suffixes Ki Mi Gi Ti Pi Ei, the decimal suffixes n u m k M G T P E
 * or none, or an exponent e/E[+-]?digits.  "500m", "4", "16Gi", "1.5", "2e3".
 * Signs are accepted here; callers that need a non-negative amount check
 * for the "-" themselves.
 */
const char *k8s_check_quantity(const char *s);

/*
 * Container image reference (github.com/distribution/reference):
 * [DOMAIN[:PORT]/]PATH[:TAG][@ALGORITHM:HEX], where PATH components are
 * lowercase alphanumerics joined by ".", "_", "__" or dashes, TAG is
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} and HEX has at least 32 digits.  The
 * name (domain and path) is at most 255 characters.
 */
const char *k8s_check_image_ref(const char *s);

#endif
