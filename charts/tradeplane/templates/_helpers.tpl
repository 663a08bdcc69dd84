{{/*
Names and labels shared by every template.
*/}}

{{/* The release's full name: the release name, with the chart's name added unless it is in
it already; at most 63 characters, as a label value must be. */}}
{{- define "tradeplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tradeplane.serviceAccountName" -}}
{{- default (include "tradeplane.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The leader Lease: one per release, so two releases in one namespace do not share it. */}}
{{- define "tradeplane.leaseName" -}}
{{- include "tradeplane.fullname" . -}}
{{- end -}}

{{- define "tradeplane.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "tradeplane.labels" -}}
{{ include "tradeplane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: repository:tag, then @digest when a
digest is set. The tag defaults to the chart's appVersion. Called with (list $image $). */}}
{{- define "tradeplane.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- $reference := printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- if $image.digest -}}
{{- $reference = printf "%s@%s" $reference $image.digest -}}
{{- end -}}
{{- $reference -}}
{{- end -}}
