;; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld
;; dataset. Room ArmExpBedroomB, task pick_two_obj_and_place. Rendered from
;; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.
(define (problem plan_trial_H0106_armexp)
(:domain alfred)
(:objects
    agent1 - agent
    CellPhoneType - otype
    DeskLampType - otype
    KeyChainType - otype
    LaptopType - otype
    PencilType - otype
    PillowType - otype
    StatueType - otype
    VaseType - otype
    WatchType - otype
    BedType - rtype
    DeskType - rtype
    DrawerType - rtype
    DresserType - rtype
    GarbageCanType - rtype
    SafeType - rtype
    ShelfType - rtype
    SideTableType - rtype
    Pillow_bar_01 - object ; pillow 1
    Laptop_bar_01 - object ; laptop 1
    Pencil_bar_02 - object ; pencil 1
    CellPhone_bar_01 - object ; cellphone 1
    KeyChain_bar_01 - object ; keychain 1
    Pencil_bar_01 - object ; pencil 2
    Vase_bar_01 - object ; vase 1
    Watch_bar_01 - object ; watch 1
    Statue_bar_01 - object ; statue 1
    DeskLamp_bar_01 - object ; desklamp 1
    Bed_bar_01 - receptacle ; bed 1
    Desk_bar_01 - receptacle ; desk 1
    Drawer_bar_03 - receptacle ; drawer 1
    Drawer_bar_02 - receptacle ; drawer 2
    Drawer_bar_01 - receptacle ; drawer 3
    Dresser_bar_01 - receptacle ; dresser 1
    GarbageCan_bar_01 - receptacle ; garbagecan 1
    Safe_bar_01 - receptacle ; safe 1
    Shelf_bar_02 - receptacle ; shelf 1
    Shelf_bar_01 - receptacle ; shelf 2
    SideTable_bar_01 - receptacle ; sidetable 1
    loc_bar_0_bar_0_bar_0_bar_30 - location ; where the agent starts
    loc_bar_1_bar_0_bar_0_bar_30 - location ; in front of bed 1
    loc_bar_2_bar_3_bar_90_bar_30 - location ; in front of desk 1
    loc_bar_3_bar_6_bar_180_bar_30 - location ; in front of drawer 1
    loc_bar_4_bar_2_bar_270_bar_30 - location ; in front of drawer 2
    loc_bar_5_bar_5_bar_0_bar_30 - location ; in front of drawer 3
    loc_bar_6_bar_1_bar_90_bar_30 - location ; in front of dresser 1
    loc_bar_7_bar_4_bar_180_bar_30 - location ; in front of garbagecan 1
    loc_bar_8_bar_0_bar_270_bar_30 - location ; in front of safe 1
    loc_bar_9_bar_3_bar_0_bar_30 - location ; in front of shelf 1
    loc_bar_10_bar_6_bar_90_bar_30 - location ; in front of shelf 2
    loc_bar_11_bar_2_bar_180_bar_30 - location ; in front of sidetable 1
)
(:init
    (receptacleType Bed_bar_01 BedType)
    (receptacleType Desk_bar_01 DeskType)
    (receptacleType Drawer_bar_03 DrawerType)
    (receptacleType Drawer_bar_02 DrawerType)
    (receptacleType Drawer_bar_01 DrawerType)
    (receptacleType Dresser_bar_01 DresserType)
    (receptacleType GarbageCan_bar_01 GarbageCanType)
    (receptacleType Safe_bar_01 SafeType)
    (receptacleType Shelf_bar_02 ShelfType)
    (receptacleType Shelf_bar_01 ShelfType)
    (receptacleType SideTable_bar_01 SideTableType)
    (objectType Pillow_bar_01 PillowType)
    (objectType Laptop_bar_01 LaptopType)
    (objectType Pencil_bar_02 PencilType)
    (objectType CellPhone_bar_01 CellPhoneType)
    (objectType KeyChain_bar_01 KeyChainType)
    (objectType Pencil_bar_01 PencilType)
    (objectType Vase_bar_01 VaseType)
    (objectType Watch_bar_01 WatchType)
    (objectType Statue_bar_01 StatueType)
    (objectType DeskLamp_bar_01 DeskLampType)
    (canContain BedType CellPhoneType)
    (canContain BedType LaptopType)
    (canContain BedType PillowType)
    (canContain DeskType CellPhoneType)
    (canContain DeskType KeyChainType)
    (canContain DeskType LaptopType)
    (canContain DeskType PencilType)
    (canContain DeskType StatueType)
    (canContain DeskType VaseType)
    (canContain DeskType WatchType)
    (canContain DrawerType CellPhoneType)
    (canContain DrawerType KeyChainType)
    (canContain DrawerType PencilType)
    (canContain DrawerType WatchType)
    (canContain DresserType CellPhoneType)
    (canContain DresserType KeyChainType)
    (canContain DresserType LaptopType)
    (canContain DresserType PencilType)
    (canContain DresserType StatueType)
    (canContain DresserType VaseType)
    (canContain DresserType WatchType)
    (canContain GarbageCanType PencilType)
    (canContain SafeType CellPhoneType)
    (canContain SafeType KeyChainType)
    (canContain SafeType StatueType)
    (canContain SafeType VaseType)
    (canContain SafeType WatchType)
    (canContain ShelfType CellPhoneType)
    (canContain ShelfType KeyChainType)
    (canContain ShelfType PencilType)
    (canContain ShelfType StatueType)
    (canContain ShelfType VaseType)
    (canContain ShelfType WatchType)
    (canContain SideTableType CellPhoneType)
    (canContain SideTableType KeyChainType)
    (canContain SideTableType LaptopType)
    (canContain SideTableType PencilType)
    (canContain SideTableType StatueType)
    (canContain SideTableType VaseType)
    (canContain SideTableType WatchType)
    (pickupable Pillow_bar_01)
    (pickupable Laptop_bar_01)
    (pickupable Pencil_bar_02)
    (pickupable CellPhone_bar_01)
    (pickupable KeyChain_bar_01)
    (pickupable Pencil_bar_01)
    (pickupable Vase_bar_01)
    (pickupable Watch_bar_01)
    (pickupable Statue_bar_01)
    (openable Drawer_bar_03)
    (openable Drawer_bar_02)
    (openable Drawer_bar_01)
    (openable Safe_bar_01)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
    (toggleable DeskLamp_bar_01)
    (inReceptacle Pillow_bar_01 Bed_bar_01)
    (inReceptacle Laptop_bar_01 Bed_bar_01)
    (inReceptacle Pencil_bar_02 Desk_bar_01)
    (inReceptacle CellPhone_bar_01 Desk_bar_01)
    (inReceptacle KeyChain_bar_01 Drawer_bar_03)
    (inReceptacle Pencil_bar_01 Drawer_bar_03)
    (inReceptacle Vase_bar_01 Dresser_bar_01)
    (inReceptacle Watch_bar_01 Safe_bar_01)
    (inReceptacle Statue_bar_01 Shelf_bar_01)
    (inReceptacle DeskLamp_bar_01 SideTable_bar_01)
    (receptacleAtLocation Bed_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (receptacleAtLocation Desk_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (receptacleAtLocation Drawer_bar_03 loc_bar_3_bar_6_bar_180_bar_30)
    (receptacleAtLocation Drawer_bar_02 loc_bar_4_bar_2_bar_270_bar_30)
    (receptacleAtLocation Drawer_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (receptacleAtLocation Dresser_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (receptacleAtLocation GarbageCan_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (receptacleAtLocation Safe_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (receptacleAtLocation Shelf_bar_02 loc_bar_9_bar_3_bar_0_bar_30)
    (receptacleAtLocation Shelf_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (receptacleAtLocation SideTable_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (objectAtLocation Pillow_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation Laptop_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation Pencil_bar_02 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation CellPhone_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation KeyChain_bar_01 loc_bar_3_bar_6_bar_180_bar_30)
    (objectAtLocation Pencil_bar_01 loc_bar_3_bar_6_bar_180_bar_30)
    (objectAtLocation Vase_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation Watch_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation Statue_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (objectAtLocation DeskLamp_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
)
(:goal (exists (?r - receptacle ?o1 - object ?o2 - object) (and (not (= ?o1 ?o2)) (receptacleType ?r ShelfType) (objectType ?o1 PencilType) (objectType ?o2 PencilType) (inReceptacle ?o1 ?r) (inReceptacle ?o2 ?r))))
)
