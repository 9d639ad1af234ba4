/** Shapes of AWS names that configuration and the EKS token both check. */

/** EKS cluster names (CreateCluster): letters, digits, `-` and `_`, starting with a letter or digit, at most 100. */
export const EKS_CLUSTER_NAME_PATTERN = /^[0-9A-Za-z][0-9A-Za-z_-]{0,99}$/;

/** us-east-1, us-gov-west-1, cn-north-1, …: it becomes part of the STS host name. */
export const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;
