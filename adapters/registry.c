/*
 * The networks this build knows. Adding a network is one line here and one
 * ops table under adapters/.
 */
#include "adapter.h"

#include <string.h>

#include "mastodon.h"

static const struct gw_adapter_ops *const registry[] = {
    &mastodon_ops,
};

const struct gw_adapter_ops *gw_adapter_find(const char *network)
{
    for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
        if (strcmp(registry[i]->name, network) == 0 &&
            registry[i]->abi_version == GW_ADAPTER_ABI)
            return registry[i];
    return NULL;
}
