"""RQ workers: run turns through the persona engine and publish the replies."""
